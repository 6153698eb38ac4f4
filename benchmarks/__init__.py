"""Benchmarks: side-by-side measurements in one run, printed as tables with ratios."""
