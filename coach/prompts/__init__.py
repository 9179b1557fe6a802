"""The coach's prompts: Markdown files with front matter in ``files/``, and the manager that
loads, checks and renders them. ``loader`` describes the file format, ``manager`` the templating,
``variables`` the values the engine fills in from a ``CoachContext``.
"""

from __future__ import annotations

from coach.prompts.loader import (
    DEFAULT_PROMPT_DIR,
    KNOWN_ACTIONS,
    REQUIRED_PROMPTS,
    PromptError,
    PromptFile,
    PromptKind,
)
from coach.prompts.manager import PromptManager, RenderedPrompt, create_prompt_manager

__all__ = [
    "DEFAULT_PROMPT_DIR",
    "KNOWN_ACTIONS",
    "REQUIRED_PROMPTS",
    "PromptError",
    "PromptFile",
    "PromptKind",
    "PromptManager",
    "RenderedPrompt",
    "create_prompt_manager",
]
