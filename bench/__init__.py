"""Benchmarks: run with `make bench`, never collected as tests."""
