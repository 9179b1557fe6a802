"""A scenario made from a stored session at turn N (the inspector's "make a scenario").

The session is copied into a bundle beside the scenario (``fixtures/<name>.bundle.json``), so
deleting it later breaks nothing. The client's own later messages become the scenario's
scripted lines, so the scenario asks: given the same client, does the coach (with the prompt
versions under test) still get where it got? The assertions start as what the session did
after turn N, and are meant to be edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from coach.enums import ActionStatus, MessageRole, TurnStatus
from coach.errors import InputError
from coach.evals.scenario import Scenario, ScenarioError, parse_scenario
from coach.persistence.base import MAX_PAGE_SIZE, DatabaseInterface
from coach.sessions.bundles import Bundle, export_session

FIXTURES = "fixtures"


@dataclass(frozen=True)
class MadeScenario:
    """A scenario's YAML text and its fixture, not yet written."""

    name: str
    yaml_text: str
    bundle: Bundle

    @property
    def fixture_name(self) -> str:
        return f"{FIXTURES}/{self.name}.bundle.json"

    def write(self, directory: Path) -> Path:
        """Write the scenario and its fixture into ``directory``; returns the scenario's path.

        Raises:
            InputError: a scenario of that name exists there already.
        """
        path = directory / f"{self.name}.yaml"
        if path.exists():
            raise InputError(f"{path} exists already; choose another name")
        (directory / FIXTURES).mkdir(parents=True, exist_ok=True)
        (directory / self.fixture_name).write_text(self.bundle.to_json(), encoding="utf-8")
        path.write_text(self.yaml_text, encoding="utf-8")
        return path


async def scenario_from_session(
    db: DatabaseInterface, session_id: str, at_turn: int, *, name: str
) -> MadeScenario:
    """A scenario that continues the session after turn ``at_turn`` with its client's words.

    Raises:
        InputError: no such session, no client message after that turn, or a bad name.
    """
    summary = await db.get_session(session_id)
    if summary is None:
        raise InputError(f"session {session_id} does not exist")
    turns = await db.list_turns(session_id, limit=MAX_PAGE_SIZE)
    if not 0 <= at_turn < len(turns):
        raise InputError(
            f"session {session_id} has turns 1 to {len(turns)}: start after a turn from 0 to "
            f"{len(turns) - 1}, so the client has something left to say"
        )
    later = [t for t in turns[at_turn:] if t.status is TurnStatus.OK]
    said = []
    for t in later:
        message = await db.get_message(session_id, t.user_message_id)
        if message is not None and message.role is MessageRole.USER:
            said.append(message.content)
    if not said:
        raise InputError(f"the client said nothing the coach answered after turn {at_turn}")
    reached = later[-1].state_after if later else turns[at_turn - 1].state_after
    applied = sorted(
        {a.type for t in later for a in t.actions if a.status is ActionStatus.APPLIED}
        - {"transition_state"}
    )
    document: dict[str, object] = {
        "name": name,
        "description": (
            f"Made from session {session_id} after turn {at_turn}: the client says what they "
            "said then. Edit the assertions to what the coach must do."
        ),
        "client": {"lines": said[1:]},
        "opening": said[0],
        "max_turns": len(said),
        "start": {"fixture": f"{FIXTURES}/{name}.bundle.json", "at_turn": at_turn},
        "assertions": [
            {"check": "phase_reached", "phase": reached.value},
            *([{"check": "actions_used", "actions": applied}] if applied else []),
            {"check": "no_failed_turn"},
        ],
    }
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=96)
    try:
        scenario: Scenario = parse_scenario(text, path=f"{name}.yaml")
    except ScenarioError as e:
        raise InputError(f"the scenario cannot be made: {'; '.join(e.problems)}") from e
    bundle = await export_session(db, session_id)
    return MadeScenario(name=scenario.name, yaml_text=text, bundle=bundle)
