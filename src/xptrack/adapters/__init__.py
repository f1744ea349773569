"""Adapters: one module per technology (memory, local, redis, mongo, environment probes)."""
