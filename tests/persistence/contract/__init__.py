"""The persistence contract suite: one file per capability, run unchanged on every backend."""
