"""Delivery: outputs and connections, the forwarding phase, queues, the sender, retries, dead letters,
replay, System Alerts, the forwarding report and the outbound Live Stream (the shell around
fermion.integrations)."""
