"""Model clients behind one small interface (:class:`LLMClient`).

* :class:`OpenAIClient` — OpenAI or any OpenAI-compatible server, through the official SDK.
* :class:`LocalLLMClient` — the bundled SmolLM2-135M-Instruct model, in-process (offline).
* :class:`ScriptedLLMClient` — deterministic replies for tests, replays and demos.
"""

from __future__ import annotations

from coach.llm.base import (
    ChatMessage,
    LLMClient,
    LLMRequest,
    LLMResponse,
    StreamEvent,
    TextDelta,
    Usage,
)
from coach.llm.local import LocalLLMClient, find_bundled_model
from coach.llm.openai_client import OpenAIClient, StructuredMode
from coach.llm.scripted import Reply, ReplyFunction, ScriptedLLMClient

__all__ = [
    "ChatMessage",
    "LLMClient",
    "LLMRequest",
    "LLMResponse",
    "LocalLLMClient",
    "OpenAIClient",
    "Reply",
    "ReplyFunction",
    "ScriptedLLMClient",
    "StreamEvent",
    "StructuredMode",
    "TextDelta",
    "Usage",
    "find_bundled_model",
]
