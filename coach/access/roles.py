"""Who may do what: three roles, the actions that change something, and the role each needs.

Reading is open to every signed-in role. Each authoring or destructive action needs a role,
and ``check`` is the one place that decides (``coach.access.workbench`` calls it before every
such action, whatever page or button asked).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from coach.errors import AccessDeniedError


class Role(StrEnum):
    """In increasing order of what they may do: each role may do what the ones before may."""

    VIEWER = "viewer"
    COACH = "coach"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Action(StrEnum):
    """What is checked and written to the audit log."""

    SIGN_IN = "sign_in"
    LOAD_DEMO = "load_demo"
    COPY_DEMO = "copy_demo"
    START_SESSION = "start_session"
    SEND_MESSAGE = "send_message"
    RETRY_TURN = "retry_turn"
    SAVE_PROMPT = "save_prompt"
    TRY_TURN = "try_turn"
    PIN_PROMPTS = "pin_prompts"
    FORK = "fork"
    REPLAY = "replay"
    CANCEL_REPLAY = "cancel_replay"
    RESUME_REPLAY = "resume_replay"
    START_EVAL = "start_eval"
    RESUME_EVAL = "resume_eval"
    CANCEL_EVAL = "cancel_eval"
    MAKE_SCENARIO = "make_scenario"
    EDIT_CLIENT = "edit_client"
    ACTIVATE_PROMPT = "activate_prompt"
    DELETE_SESSION = "delete_session"
    DELETE_USER = "delete_user"
    IMPORT_BUNDLE = "import_bundle"
    RUN_RETENTION = "run_retention"
    CANCEL_RETENTION = "cancel_retention"


#: The role each action needs (signing in needs none).
NEEDED: dict[Action, Role] = {
    **dict.fromkeys(
        (
            Action.LOAD_DEMO,
            Action.COPY_DEMO,
            Action.START_SESSION,
            Action.SEND_MESSAGE,
            Action.RETRY_TURN,
            Action.SAVE_PROMPT,
            Action.TRY_TURN,
            Action.PIN_PROMPTS,
            Action.FORK,
            Action.REPLAY,
            Action.CANCEL_REPLAY,
            Action.RESUME_REPLAY,
            Action.START_EVAL,
            Action.RESUME_EVAL,
            Action.CANCEL_EVAL,
            Action.MAKE_SCENARIO,
            Action.EDIT_CLIENT,
        ),
        Role.COACH,
    ),
    **dict.fromkeys(
        (
            Action.ACTIVATE_PROMPT,
            Action.DELETE_SESSION,
            Action.DELETE_USER,
            Action.IMPORT_BUNDLE,
            Action.RUN_RETENTION,
            Action.CANCEL_RETENTION,
        ),
        Role.ADMIN,
    ),
}

#: The name audit rows carry when access control is off.
LOCAL = "local"


@dataclass(frozen=True)
class Actor:
    """Who is signed in: a name (an e-mail when the sign-in gives one), their role, and how
    they signed in (``off`` when access control is off: everyone is a local admin)."""

    name: str
    role: Role
    via: str = "off"

    @classmethod
    def local(cls) -> Actor:
        return cls(LOCAL, Role.ADMIN)

    def may(self, action: Action) -> bool:
        needed = NEEDED.get(action)
        return needed is None or self.role.rank >= needed.rank


def check(actor: Actor, action: Action) -> None:
    """Raise ``AccessDeniedError`` naming the role needed when ``actor`` may not do
    ``action``."""
    if not actor.may(action):
        needed = NEEDED[action]
        raise AccessDeniedError(
            f"{action.value.replace('_', ' ').capitalize()} needs the {needed.value} role; "
            f"{actor.name} is signed in as {actor.role.value}. Ask an admin for the "
            f"{needed.value} role."
        )
