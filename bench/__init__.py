"""make bench (python -m bench): the figures in docs/benchmarks.md; see bench/__main__.py."""
