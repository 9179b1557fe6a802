"""Benchmarks of the persistence layer: ``python -m bench [--quick] [--only NAME]``.

- ``persistence``: the cost of one turn at turn 10, 100 and 1,000 on each backend.
- ``langgraph``: the same conversation stored by LangGraph's ``AsyncSqliteSaver``, as reference.
- ``inspector``: the inspector's queries on a PostgreSQL database of 10,000 users, 100,000
  sessions and 5 million messages (filled once by ``bench.generate``, then reused).

Results are printed as Markdown tables and saved as JSON under ``bench/results/``.
"""
