"""Tables: .csv and .parquet files of numeric and categorical columns. Each file here is in
its layer (DESIGN.md): data, model, evaluate, render."""
