"""Fake platforms, served on loopback ports, for tests and benchmarks."""
