"""Benchmarks: run as modules, they print ratios; they are not tests."""
