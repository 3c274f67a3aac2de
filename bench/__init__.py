"""`make bench`: benchmarks beside their baselines, measured in the same run."""
