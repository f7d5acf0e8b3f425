"""Benchmark suite: `python -m bench.run` (make bench). See bench/HOWTO.md."""
