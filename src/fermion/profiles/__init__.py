"""User profiles: per-workspace attributes, devices, consent and seen-times, merged last-write-wins (pure)."""
