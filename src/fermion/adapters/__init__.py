"""Adapters: the I/O implementations of the ports in fermion.ports."""
