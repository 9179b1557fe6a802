"""Whole sessions as a coach works with them: replayed (``replay``)."""
