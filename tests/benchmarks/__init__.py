"""Benchmarks for `make bench`: each bench_*.py module's table() returns a markdown section."""
