"""Fermion's domain model: batches and events (msgspec structs), tenancy, ids. Pure, no I/O."""
