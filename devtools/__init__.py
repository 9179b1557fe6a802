"""Helpers for developing the app, shared by the benchmarks (``bench/``) and the tests
(``tests/``), so that neither imports the other. Not part of the product: ``coach/`` and the
pages never import it."""
