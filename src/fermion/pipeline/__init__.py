"""The processing chain: pure stages `(batch, context) -> batch | Drop`, run one batch at a time."""
