"""Integrations (outputs): one pure module per partner, declared with fermion.integrations.spec."""
