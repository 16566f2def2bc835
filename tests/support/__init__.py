"""Test support shared by tests and benchmarks: running Fermion as a real subprocess."""
