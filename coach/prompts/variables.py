"""The values the engine fills into the prompt files, rendered from a ``CoachContext``.

Every prompt file names the variables it needs in its front matter; these functions produce them.
"""

from __future__ import annotations

from coach.enums import IdentityState
from coach.models import CoachContext
from coach.persistence.records import IdentityRecord
from coach.prompts.loader import PromptKind

NONE_YET = "none yet"


def client_name(context: CoachContext, *, unknown: str = "not known yet") -> str:
    name = context.user_profile.get("name")
    return name if isinstance(name, str) and name else unknown


def client_goals(context: CoachContext) -> str:
    goals = context.user_profile.get("goals")
    if isinstance(goals, list) and goals:
        return "\n".join(f"- {g}" for g in goals if isinstance(g, str))
    return NONE_YET


def identity_line(identity: IdentityRecord) -> str:
    """One identity for the model: id, label, category and state, then its open action items."""
    line = f"- [{identity.id}] {identity.label} ({identity.category.value}, {identity.state.value})"
    open_items = [a for a in identity.action_items if not a.done]
    return "\n".join([line, *(f"    - action item [{a.id}]: {a.text}" for a in open_items)])


def identities_block(context: CoachContext) -> str:
    visible = [i for i in context.identities if i.state is not IdentityState.DISMISSED]
    dismissed = [i.label for i in context.identities if i.state is IdentityState.DISMISSED]
    lines = [identity_line(i) for i in visible]
    if dismissed:
        lines.append(f"(dismissed, do not propose again: {', '.join(dismissed)})")
    return "\n".join(lines) or NONE_YET


def focus_block(context: CoachContext) -> str:
    focus = context.focus_identity
    if focus is None:
        return NONE_YET
    items = "\n".join(
        f"  - [{a.id}] {a.text} ({'done' if a.done else 'open'})" for a in focus.action_items
    )
    return "\n".join(
        [
            f"[{focus.id}] {focus.label} ({focus.category.value}, {focus.state.value})",
            f"affirmation: {focus.affirmation or NONE_YET}",
            f"visualization: {focus.visualization or NONE_YET}",
            f"action items:\n{items}" if items else "action items: none yet",
        ]
    )


#: Where a turn records the variables its system prompt was filled with (``TurnRecord.details``).
PROMPT_VARIABLES = "prompt_variables"
#: ... and the summary message the model read with it ("" for none): with the window's message
#: ids, the turn's whole input can be built again with other prompt versions.
SUMMARY_MESSAGE = "summary_message"


def phase_variables(context: CoachContext) -> dict[str, str]:
    """The variables of every phase prompt."""
    return {
        "client_name": client_name(context),
        "client_goals": client_goals(context),
        "identities": identities_block(context),
        "focus_identity": focus_block(context),
    }


def welcome_variables(context: CoachContext) -> dict[str, str]:
    """The variables of the welcome and welcome-back messages.

    ``identities_recall`` and ``actions_recall`` are whole sentences, or empty when there is
    nothing to recall. ``identity_labels`` and ``open_action_items`` are what version 1 of the
    welcome back used ("none yet" when empty): a store where it is still active renders it.
    """
    kept = [i for i in context.identities if i.state is not IdentityState.DISMISSED]
    open_items = [f"{a.text} ({i.label})" for i in kept for a in i.action_items if not a.done]
    labels = [i.label for i in kept]
    return {
        "client_name": client_name(context, unknown="there"),
        "identities_recall": identities_recall(labels),
        "actions_recall": actions_recall(open_items),
        "identity_labels": ", ".join(labels) or NONE_YET,
        "open_action_items": "; ".join(open_items) or NONE_YET,
    }


def spoken_list(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def identities_recall(labels: list[str]) -> str:
    """The sentence recalling the client's identities, or "" for none."""
    if not labels:
        return ""
    return f"Last time we talked about who you want to be: {spoken_list(labels)}."


def actions_recall(open_items: list[str]) -> str:
    """The sentence recalling the open action items, or "" for none."""
    if not open_items:
        return ""
    actions = "action" if len(open_items) == 1 else "actions"
    return f"The {actions} you had planned: {'; '.join(open_items)}."


def summarizer_variables(context: CoachContext, max_words: int) -> dict[str, str]:
    """The variables of the summarizer's prompt."""
    return {
        "previous_summary": context.consolidated_summary or "(none yet)",
        "max_words": str(max_words),
    }


#: The summary length the lab previews the summarizer with (the engine's default).
PREVIEW_SUMMARY_WORDS = 200


def variables_for(kind: PromptKind, context: CoachContext) -> dict[str, str]:
    """The variables the engine fills into a prompt of ``kind`` for ``context``."""
    if kind is PromptKind.MESSAGE:
        return welcome_variables(context)
    if kind is PromptKind.TASK:
        return summarizer_variables(context, PREVIEW_SUMMARY_WORDS)
    return phase_variables(context)
