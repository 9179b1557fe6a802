"""What the prompt tests expect, and the helpers they share.

The expected tables are written by hand from SPEC §2.1 and §2.3, not derived from the code,
so a prompt file that drifts from the specification fails the tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from coach.enums import CoachingState
from coach.prompts import PromptError, PromptManager

S = CoachingState

# --- SPEC §2.3, by hand: the actions allowed in each phase ---

EXPECTED_ALLOWED_ACTIONS: dict[CoachingState, set[str]] = {
    S.INTRODUCTION: {"save_user_info", "transition_state"},
    S.IDENTITY_BRAINSTORMING: {
        "save_user_info",
        "create_identity",
        "update_identity",
        "accept_identity",
        "dismiss_identity",
        "add_identity_note",
        "transition_state",
    },
    S.IDENTITY_REFINEMENT: {
        "save_user_info",
        "update_identity",
        "add_identity_note",
        "select_focus_identity",
        "set_affirmation",
        "mark_identity_refined",
        "transition_state",
    },
    S.IDENTITY_VISUALIZATION: {
        "save_user_info",
        "add_identity_note",
        "save_visualization",
        "transition_state",
    },
    S.ACTION_PLANNING: {
        "save_user_info",
        "add_identity_note",
        "add_action_item",
        "transition_state",
    },
    S.ACCOUNTABILITY: {
        "save_user_info",
        "add_identity_note",
        "select_focus_identity",
        "complete_action_item",
        "transition_state",
    },
}

# --- SPEC §2.3, by hand: each action's params as (required, optional) ---

ACTION_PARAMS: dict[str, tuple[set[str], set[str]]] = {
    "save_user_info": ({"key", "value"}, set()),
    "create_identity": ({"label", "category"}, {"note"}),
    "update_identity": ({"identity_id"}, {"label", "category"}),
    "accept_identity": ({"identity_id"}, set()),
    "dismiss_identity": ({"identity_id"}, set()),
    "add_identity_note": ({"identity_id", "note"}, set()),
    "select_focus_identity": ({"identity_id"}, set()),
    "set_affirmation": ({"identity_id", "affirmation"}, set()),
    "mark_identity_refined": ({"identity_id"}, set()),
    "save_visualization": ({"identity_id", "visualization"}, set()),
    "add_action_item": ({"identity_id", "text"}, set()),
    "complete_action_item": ({"action_item_id"}, set()),
    "transition_state": ({"to_state"}, set()),
}

# --- SPEC §2.1, by hand: the moves the model may request from each phase ---

EXPECTED_MOVES: dict[CoachingState, set[CoachingState]] = {
    S.INTRODUCTION: {S.IDENTITY_BRAINSTORMING},
    S.IDENTITY_BRAINSTORMING: {S.IDENTITY_REFINEMENT},
    S.IDENTITY_REFINEMENT: {S.IDENTITY_VISUALIZATION, S.IDENTITY_BRAINSTORMING},
    S.IDENTITY_VISUALIZATION: {S.ACTION_PLANNING, S.IDENTITY_BRAINSTORMING},
    S.ACTION_PLANNING: {S.ACCOUNTABILITY, S.IDENTITY_BRAINSTORMING},
    S.ACCOUNTABILITY: {S.IDENTITY_REFINEMENT, S.IDENTITY_BRAINSTORMING},
}

# --- the documented variables (the engine's contract) ---

PHASE_VARIABLES: dict[str, str] = {
    "client_name": "Maya",
    "client_goals": "- Stop feeling stuck at work",
    "identities": (
        "- id 5f0c2a9e-1b7d-4c1e-9a3f-2d8e6b4c7a10 | Steady Money Keeper | keeper_of_money | "
        "accepted\n"
        "  - open action id 9a4e7c21-3b5d-4f60-8e2a-7c1d0b9f6e35 | Check my budget on Sundays"
    ),
    "focus_identity": "id 5f0c2a9e-1b7d-4c1e-9a3f-2d8e6b4c7a10 | Steady Money Keeper | accepted",
}

OTHER_VARIABLES: dict[str, dict[str, str]] = {
    "welcome": {},
    "welcome_back": {
        "client_name": "Maya",
        "identities_recall": (
            "Last time we talked about who you want to be: Steady Money Keeper and Playful "
            "Present Dad."
        ),
        "actions_recall": (
            "The action you had planned: Check my budget on Sundays (Steady Money Keeper)."
        ),
    },
    "summarizer": {"previous_summary": "(none yet)", "max_words": "200"},
    "persona": {},
    "response_format": {},
}

EXPECTED_FILES = {s.value for s in CoachingState} | set(OTHER_VARIABLES)

PHASE_NAMES = [s.value for s in CoachingState]
JSON_BLOCK = re.compile(r"```json\n(.*?)\n```", re.DOTALL)
ANY_FENCE = re.compile(r"^```(\w*)$", re.MULTILINE)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def load_error(directory: Path) -> str:
    with pytest.raises(PromptError) as info:
        PromptManager.from_folder(directory)
    return str(info.value)


def json_examples(text: str) -> list[Any]:
    return [json.loads(block) for block in JSON_BLOCK.findall(text)]
