"""The Numenta Anomaly Benchmark (NAB v1.1): its scorer, written from the paper's description
(Lavin and Ahmad, 2015), and the reader and writer of its corpus and results layouts.

- `scorer`: pure functions over anomaly-score arrays and labelled windows (no files).
- `results`: the corpus layout (series, windows, profiles) and NAB's results layout.
- `score`: the command, `python -m bench.nab.score RESULTS_DIR --corpus ../shared/data/nab`.
"""
