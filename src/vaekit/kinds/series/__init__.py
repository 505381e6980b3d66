"""Time series: .csv/.parquet files of a time column and one or more value columns (one, or a
folder of them, one series each) or .npy arrays (series, time, channels), modelled as windows
of steps, for anomaly detection first of all. Each file here is in its layer
(DESIGN.md): options, data, model, evaluate, render."""
