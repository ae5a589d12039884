"""The library side of the benchmarks: decomposition coverage, cross-engine agreement, and the
definition-aware analytics comparison."""
