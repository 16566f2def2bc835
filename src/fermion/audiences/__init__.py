"""Audiences: criteria, evaluation and membership (pure core, no I/O)."""
