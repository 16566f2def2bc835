"""Fermion: a self-hosted customer data platform, wire-compatible with mParticle."""
