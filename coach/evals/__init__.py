"""Scenarios, simulated clients and eval runs: measuring a prompt change before it reaches a
client (SPEC §8.3)."""
