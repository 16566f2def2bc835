"""The imperative shell: load state through ports, run the pure core, save, enqueue."""
