"""Data plans and the data points catalog (pure: no I/O)."""
