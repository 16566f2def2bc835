"""Calculated attributes: definitions, conditions, per-user accumulators and values (pure core, no I/O)."""
