"""Model clients behind one small interface (:class:`LLMClient`, in ``base``).

Each provider lives in its own module and is imported from there:

* ``openai_client.OpenAIClient`` — OpenAI or any OpenAI-compatible server, through the official
  SDK.
* ``local.LocalLLMClient`` — the bundled SmolLM2-135M-Instruct model, in-process (offline).
* ``scripted.ScriptedLLMClient`` — deterministic replies for tests, replays and demos.

Only the interface is re-exported here, so that importing it never loads a provider's SDK.
"""

from __future__ import annotations

from coach.llm.base import (
    ChatMessage,
    LLMClient,
    LLMRequest,
    LLMResponse,
    Sampling,
    StreamEvent,
    TextDelta,
    Usage,
)

__all__ = [
    "ChatMessage",
    "LLMClient",
    "LLMRequest",
    "LLMResponse",
    "Sampling",
    "StreamEvent",
    "TextDelta",
    "Usage",
]
