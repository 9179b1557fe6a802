"""A scenario's starting point taken from a stored session: a bundle file beside the scenario.

The bundle is a copy, so deleting the session it came from breaks nothing. When a run starts,
the bundle is imported once under new ids (the run's fixture session); each conversation then
forks it at the scenario's turn into a copy of its client (``coach.sessions.replay``), so every
repeat starts from the same place and none sees another's changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from coach.enums import CoachingState, TurnStatus
from coach.errors import InputError
from coach.evals.scenario import Scenario, ScenarioError
from coach.persistence.base import DatabaseInterface
from coach.sessions.bundles import Bundle, BundleError, import_bundle, read_bundle


def fixture_path(scenario_path: Path | str, fixture: str) -> Path:
    return Path(scenario_path).parent / fixture


class FixtureError(InputError):
    """A fixture that cannot be used; ``field`` is the key of ``start`` it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_fixture(
    scenario: Scenario, scenario_path: Path | str, *, lines: Mapping[str, int | None]
) -> None:
    """The fixture exists, is a bundle, and holds the session and turn the scenario names.

    Args:
        lines: the line of each key of ``start`` (``fixture``, ``session``, ``at_turn``).

    Raises:
        ScenarioError: what is wrong, at the line of the key it is about.
    """
    assert scenario.start is not None
    try:
        read_fixture(scenario, fixture_path(scenario_path, scenario.start.fixture))
    except FixtureError as e:
        line = lines.get(e.field)
        where = f"line {line}: start.{e.field}" if line else f"start.{e.field}"
        raise ScenarioError(scenario_path, [f"{where}: {e}"]) from e


def read_fixture(scenario: Scenario, path: Path) -> tuple[Bundle, int]:
    """The fixture's bundle and the index of the scenario's session in it.

    Raises:
        FixtureError: the file is missing or not a bundle; the session or turn is not in it.
    """
    assert scenario.start is not None
    start = scenario.start
    try:
        data = path.read_bytes()
    except OSError as e:
        raise FixtureError(
            "fixture",
            f"the fixture {start.fixture} does not exist or cannot be read (looked for {path}; "
            "the path is relative to the scenario file)",
        ) from e
    try:
        bundle = read_bundle(data)
    except BundleError as e:
        raise FixtureError(
            "fixture", f"the fixture {start.fixture} is not a usable bundle: {e}"
        ) from e
    sessions = bundle.records.sessions
    if start.session is None:
        if len(sessions) != 1:
            raise FixtureError(
                "session",
                f"the fixture {start.fixture} holds {len(sessions)} sessions; "
                "name one with start.session",
            )
        index = 0
    else:
        ids = [s.session_id for s in sessions]
        if start.session not in ids:
            raise FixtureError(
                "session",
                f"the fixture session {start.session} does not exist in {start.fixture} "
                f"(it holds {', '.join(ids) or 'no session'})",
            )
        index = ids.index(start.session)
    turns = sessions[index].turns
    if start.at_turn > len(turns):
        raise FixtureError(
            "at_turn",
            f"the fixture session has turns 1 to {len(turns)}; there is no turn {start.at_turn}",
        )
    if turns and turns[0].state_before is not CoachingState.INTRODUCTION:
        raise FixtureError(
            "session",
            f"the fixture session starts in {turns[0].state_before.value}: it continues an "
            "earlier session of its client; use the client's first session",
        )
    if any(t.status is TurnStatus.PENDING for t in turns[: start.at_turn]):
        raise FixtureError("session", "the fixture session has a turn that was never answered")
    return bundle, index


async def import_fixture(db: DatabaseInterface, scenario: Scenario, path: Path) -> str:
    """Import the scenario's fixture under new ids; returns the stored session's id.

    Raises:
        InputError: as ``read_fixture``.
    """
    bundle, index = read_fixture(scenario, path)
    stored = await import_bundle(db, bundle)
    return stored.sessions[index].session_id
