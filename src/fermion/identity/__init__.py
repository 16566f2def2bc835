"""IDSync core: identity types, strategies, resolution, modify, alias rules and explanations (no I/O)."""
