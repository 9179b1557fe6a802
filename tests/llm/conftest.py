"""Fixtures for the model-client tests: a loopback OpenAI-compatible server and a closed port."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.llm.fake_openai_server import FakeOpenAIServer


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A fake OpenAI-compatible server on 127.0.0.1, stopped after the test."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fake_llama_server() -> Iterator[FakeOpenAIServer]:
    """A fake server that, like the llama.cpp server, rejects ``json_schema`` response formats."""
    with FakeOpenAIServer(reject_json_schema=True) as server:
        yield server


@pytest.fixture
def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
