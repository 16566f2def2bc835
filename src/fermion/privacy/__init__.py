"""Privacy: consent forwarding rules (pure)."""
