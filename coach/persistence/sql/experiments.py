"""Reads and writes of the experiment tables (``experiments``, ``experiment_runs``).

Each function runs inside the one transaction the backend opened; the checks are the shared
rules (``coach.persistence.rules``), the same the memory backend makes. Ending an experiment
and adding a run both change its row only while it is ``running``, so a run never lands in an
experiment another process has ended.
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from coach.enums import JobStatus
from coach.persistence import rules
from coach.persistence.records import Experiment, ExperimentRun
from coach.persistence.sql.tables import experiment_runs, experiments, sessions

_EXPERIMENT = select(experiments).where(experiments.c.id == bindparam("p_id"))
_RUNS = (
    select(experiment_runs)
    .where(experiment_runs.c.experiment_id == bindparam("p_id"))
    .order_by(experiment_runs.c.number)
)
_SESSION_EXISTS = select(sessions.c.id).where(sessions.c.id == bindparam("p_id"))


def add(conn: Connection, experiment: Experiment) -> Experiment:
    exists = conn.execute(_SESSION_EXISTS, {"p_id": experiment.session_id}).first() is not None
    rules.check_new_experiment(experiment, session_exists=exists)
    conn.execute(insert(experiments).values(experiment.model_dump(exclude={"runs"})))
    return experiment


def get(conn: Connection, experiment_id: str) -> Experiment | None:
    experiment = _row(conn, experiment_id)
    if experiment is None:
        return None
    runs = conn.execute(_RUNS, {"p_id": experiment_id}).mappings()
    return experiment.model_copy(
        update={"runs": [ExperimentRun.model_validate(dict(r)) for r in runs]}
    )


def listed(
    conn: Connection, session_id: str | None, status: JobStatus | None, limit: int
) -> list[Experiment]:
    query = select(experiments).order_by(experiments.c.created_at.desc(), experiments.c.id.desc())
    if session_id is not None:
        query = query.where(experiments.c.session_id == session_id)
    if status is not None:
        query = query.where(experiments.c.status == status.value)
    rows = conn.execute(query.limit(limit)).mappings()
    return [Experiment.model_validate(dict(row)) for row in rows]


def add_run(conn: Connection, run: ExperimentRun) -> ExperimentRun:
    experiment = _row(conn, run.experiment_id)
    taken = conn.execute(
        select(experiment_runs.c.number).where(experiment_runs.c.experiment_id == run.experiment_id)
    ).scalars()
    rules.check_experiment_run(run, experiment, numbers_taken=taken)
    assert experiment is not None
    # Only while it runs: an experiment ended since the check leaves no row to update.
    beat = conn.execute(
        update(experiments)
        .where(
            experiments.c.id == run.experiment_id,
            experiments.c.status == JobStatus.RUNNING.value,
        )
        .values(heartbeat_at=run.created_at)
    )
    if beat.rowcount != 1:
        rules.ended_experiment(run.experiment_id, _row(conn, run.experiment_id), None)
    try:
        conn.execute(insert(experiment_runs).values(run.model_dump()))
    except IntegrityError as e:  # the same run stored by another writer meanwhile
        raise rules.run_taken(experiment, run.number) from e
    return run


def end(conn: Connection, experiment_id: str, error: str | None) -> Experiment:
    ended = rules.ended_experiment(experiment_id, _row(conn, experiment_id), error)
    done = conn.execute(
        update(experiments)
        .where(
            experiments.c.id == experiment_id,
            experiments.c.status == JobStatus.RUNNING.value,
        )
        .values(status=ended.status.value, error=error, ended_at=ended.ended_at)
    )
    if done.rowcount != 1:  # ended by another writer since the check: raises why
        rules.ended_experiment(experiment_id, _row(conn, experiment_id), error)
    found = get(conn, experiment_id)
    assert found is not None
    return found


def _row(conn: Connection, experiment_id: str) -> Experiment | None:
    row = conn.execute(_EXPERIMENT, {"p_id": experiment_id}).mappings().first()
    return None if row is None else Experiment.model_validate(dict(row))
