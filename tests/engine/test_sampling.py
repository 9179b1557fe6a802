"""Every turn records the sampling settings of its model call (temperature, output limit,
seed), as the client describes them (``LLMClient.sampling``); they match what was sent."""

from __future__ import annotations

import json

from coach.evals.cache import CachingLLMClient
from coach.inspection import sampling_rows
from coach.llm.base import ChatMessage, LLMRequest
from coach.llm.local import LocalLLMClient
from coach.llm.openai_client import OpenAIClient
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.service import CoachService
from coach.window import SAMPLING
from devtools.fake_openai import FakeOpenAIServer, FakeReply

REQUEST = LLMRequest(messages=[ChatMessage("user", "Hi")])


async def one_turn(db: DatabaseInterface, service: CoachService) -> dict[str, object]:
    info = await service.start_session(user_name="Kim")
    result = await service.send_message_and_wait(info.user_id, info.session_id, "Hello.")
    assert result.ok, result.error
    turn = await db.get_turn(info.session_id, result.turn_seq or 0)
    assert turn is not None
    recorded = turn.details[SAMPLING]
    assert isinstance(recorded, dict)
    return recorded


async def test_a_scripted_turn_records_that_nothing_was_sampled(
    memory_db: DatabaseInterface,
) -> None:
    client = ScriptedLLMClient(function=lambda _: {"message": "Hi Kim.", "actions": []})
    recorded = await one_turn(memory_db, CoachService(client, memory_db))
    assert recorded == {
        "temperature": None,
        "max_output_tokens": None,
        "seed": None,
        "sampled": False,
    }


async def test_an_openai_turn_records_the_settings_the_server_received(
    memory_db: DatabaseInterface, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.enqueue(FakeReply(json.dumps({"message": "Hi Kim.", "actions": []})))
    client = OpenAIClient(
        api_key="test", base_url=fake_openai.base_url, max_retries=0, max_output_tokens=256
    )
    recorded = await one_turn(memory_db, CoachService(client, memory_db))

    assert recorded == {"temperature": None, "max_output_tokens": 256, "seed": None}
    body = fake_openai.last_body
    assert body["max_completion_tokens"] == 256
    assert "temperature" not in body and "seed" not in body


def test_the_openai_client_describes_a_requests_own_settings() -> None:
    client = OpenAIClient(api_key="test", max_output_tokens=256, max_tokens_param="max_tokens")
    asked = LLMRequest(messages=REQUEST.messages, temperature=0.3, max_output_tokens=50)
    assert client.sampling(asked).describe() == {
        "temperature": 0.3,
        "max_output_tokens": 50,
        "seed": None,
    }
    assert OpenAIClient(api_key="test").sampling(REQUEST).max_output_tokens is None


def test_the_local_client_describes_the_options_it_gives_llama_cpp() -> None:
    client = LocalLLMClient(seed=7, max_output_tokens=100, repeat_penalty=1.2)
    described = client.sampling(REQUEST)
    sent = client._sampling_options(REQUEST)
    assert "temperature" not in sent  # llama-cpp-python's own default applies ...
    assert described.temperature == 0.2  # ... and is read from its signature
    assert (described.max_output_tokens, described.seed) == (sent["max_tokens"], sent["seed"])
    assert described.describe() == {
        "temperature": 0.2,
        "max_output_tokens": 100,
        "seed": 7,
        "repeat_penalty": 1.2,
    }
    asked = LLMRequest(messages=REQUEST.messages, temperature=0.0, max_output_tokens=20)
    assert client.sampling(asked).describe()["temperature"] == 0.0
    assert client._sampling_options(asked)["temperature"] == 0.0


def test_sampling_rows_name_unsent_and_unrecorded_settings() -> None:
    assert sampling_rows(None) == [
        {"setting": "Temperature", "value": "not recorded"},
        {"setting": "Max output tokens", "value": "not recorded"},
        {"setting": "Seed", "value": "not recorded"},
    ]
    rows = sampling_rows(
        {"temperature": 0.2, "max_output_tokens": None, "seed": 7, "sampled": False}
    )
    assert rows == [
        {"setting": "Temperature", "value": "0.2"},
        {"setting": "Max output tokens", "value": "not sent (the provider's default)"},
        {"setting": "Seed", "value": "7"},
        {"setting": "Sampled", "value": "no"},
    ]


def test_an_eval_cache_describes_its_inner_clients_sampling() -> None:
    inner = OpenAIClient(api_key="test", max_output_tokens=256)
    assert CachingLLMClient(inner).sampling(REQUEST).max_output_tokens == 256
