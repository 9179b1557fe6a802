"""Helpers of the app tests: the app's runtime, scripted replies, page switching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from coach.demo import play_demo
from coach.llm.scripted import ScriptedLLMClient
from coach.service import StartedSession
from ui.app_runtime import AppRuntime, get_runtime

APP = Path(__file__).resolve().parents[2] / "app.py"
#: AppTest's default of 3 s is far too short for a first run on two shared cores.
TIMEOUT_S = 90


def runtime() -> AppRuntime:
    """The runtime the app is using (the cached one)."""
    return get_runtime()


def scripted_client() -> ScriptedLLMClient:
    client = runtime().client
    assert isinstance(client, ScriptedLLMClient)
    return client


def load_demo() -> StartedSession:
    rt = runtime()
    return rt.run(play_demo(rt.db))


def reply(message: str, *actions: dict[str, Any]) -> dict[str, Any]:
    """A structured coach reply for the scripted client."""
    return {"message": message, "actions": list(actions)}


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(at: AppTest) -> str:
    """Every text shown by Markdown, captions, alerts and code blocks, joined."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "code", "title"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def open_page(at: AppTest, page: str, **query: str) -> AppTest:
    """Switch to a page with these query parameters and run it."""
    at.query_params.clear()
    at.query_params.update(query)
    at.switch_page(page)
    at.run()
    no_exception(at)
    return at
