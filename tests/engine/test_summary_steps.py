"""Summary steps are recorded whole (what the summarizer was sent, with which prompt and
settings, what it answered, or why it failed), and a placeholder is not taken for a summary."""

from __future__ import annotations

import json

import pytest

from coach.context import ContextManager, summary_problem
from coach.errors import LLMLengthError, LLMRateLimitError
from coach.inspection import load_summary_steps, summary_step
from coach.llm.base import LLMRequest
from coach.llm.openai_client import OpenAIClient
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.service import CoachService
from coach.window import SAMPLING, SUMMARY_STEP
from devtools.fake_openai import FakeOpenAIServer, FakeReply
from tests.records import stored_conversation

SUMMARIZER_OPENING = "You keep the memory of a coaching conversation"


async def test_a_summary_step_records_what_the_summarizer_was_sent_and_answered(
    memory_db: DatabaseInterface,
) -> None:
    await stored_conversation(memory_db, 40)
    client = ScriptedLLMClient(["The client talked about forty things."])
    manager = ContextManager(client, memory_db, token_budget=400)
    context = await manager.load_context("u1", "s1")

    outcome = await manager.summarize_if_needed(context, "sys")

    described = outcome.describe()
    sent = client.requests[0].messages
    assert described["request"] == [{"role": m.role, "content": m.content} for m in sent]
    assert str(sent[0].content).startswith(SUMMARIZER_OPENING)
    assert "message number 0 " in sent[1].content
    assert described["raw_output"] == "The client talked about forty things."
    assert described["text"] == "The client talked about forty things."
    prompt = described["prompt"]
    assert isinstance(prompt, dict) and prompt["name"] == "summarizer" and prompt["hash"]
    assert described["sampling"] == {
        "temperature": None,
        "max_output_tokens": None,
        "seed": None,
        "sampled": False,
    }
    assert described["error"] is None


@pytest.mark.parametrize(
    "placeholder", ["(None yet)", "None", "N/A", "...", "Summary so far: (none yet)", "  "]
)
async def test_a_placeholder_summary_is_refused_and_the_context_kept(
    memory_db: DatabaseInterface, placeholder: str
) -> None:
    await stored_conversation(memory_db, 40)
    manager = ContextManager(ScriptedLLMClient([placeholder]), memory_db, token_budget=400)
    context = await manager.load_context("u1", "s1")
    before = context.model_copy(deep=True)

    outcome = await manager.summarize_if_needed(context, "sys")

    assert context == before  # no summary, nothing folded
    assert outcome.attempted and outcome.folded_messages == 0
    assert outcome.error is not None and outcome.error.startswith("summary failed: ")
    assert "the context was kept" in outcome.error
    assert outcome.describe()["raw_output"] == placeholder


@pytest.mark.parametrize(
    "summary",
    [
        "None of the client's goals are settled yet.",
        "Kim wants to sleep better.",
        "N/A answers annoy the client; she wants straight talk.",
    ],
)
def test_a_real_summary_is_not_taken_for_a_placeholder(summary: str) -> None:
    assert summary_problem(summary) is None


async def test_a_failed_summarizer_call_is_recorded_with_the_output_it_sent(
    memory_db: DatabaseInterface,
) -> None:
    await stored_conversation(memory_db, 40)
    client = ScriptedLLMClient(
        [LLMRateLimitError("slow down"), LLMLengthError("cut off", raw="The client talk")]
    )
    manager = ContextManager(client, memory_db, token_budget=400)
    context = await manager.load_context("u1", "s1")

    limited = (await manager.summarize_if_needed(context, "sys")).describe()
    cut = (await manager.summarize_if_needed(context, "sys")).describe()

    assert limited["error"] == "summary failed: slow down"
    assert limited["raw_output"] is None and limited["request"]
    assert cut["error"] == "summary failed: cut off"
    assert cut["raw_output"] == "The client talk"


async def test_turns_record_their_summary_steps_and_the_history_reads_them(
    memory_db: DatabaseInterface,
) -> None:
    summaries = iter(["(None yet)", "Kim sleeps badly on weekdays."])

    def answer(request: LLMRequest) -> dict[str, object] | str:
        if request.schema_name == "summary":
            return next(summaries, "Kim sleeps badly and reads in bed.")
        return {"message": "Tell me more. " * 10, "actions": []}

    # A budget below the system prompt's size: every turn folds all but the newest message.
    service = CoachService(ScriptedLLMClient(function=answer), memory_db, token_budget=200)
    info = await service.start_session(user_name="Kim")
    for text in ["I sleep badly.", "Mostly on weekdays.", "I read in bed."]:
        assert (await service.send_message_and_wait(info.user_id, info.session_id, text)).ok

    steps = await load_summary_steps(memory_db, info.session_id, first=1, last=3)

    assert [s.seq for s in steps] == [3, 2, 1]  # newest first
    failed, written = steps[2], steps[1]
    assert failed.error is not None and "placeholder" in failed.error
    assert failed.raw_output == "(None yet)" and failed.summary is None
    assert written.error is None and written.summary == "Kim sleeps badly on weekdays."
    assert written.folded_messages > 0
    assert written.request[0]["content"].startswith(SUMMARIZER_OPENING)
    stored = await memory_db.get_context(info.user_id, info.session_id, message_limit=0)
    assert stored is not None and "(None yet)" not in str(stored.user_data["summary"])
    # A turn that attempted no summary step has none.
    turns = [await memory_db.get_turn(info.session_id, seq) for seq in (1, 2, 3)]
    assert {t.seq for t in turns if t is not None and summary_step(t)} == {s.seq for s in steps}


async def test_the_openai_clients_summary_step_records_what_the_server_got_and_sent(
    memory_db: DatabaseInterface, fake_openai: FakeOpenAIServer
) -> None:
    client = OpenAIClient(
        api_key="test", base_url=fake_openai.base_url, max_retries=0, max_output_tokens=300
    )
    service = CoachService(client, memory_db, token_budget=200)  # folds every turn
    info = await service.start_session(user_name="Kim")

    def respond(body: dict[str, object]) -> FakeReply:
        if "response_format" in body:
            return FakeReply(json.dumps({"message": "Tell me more.", "actions": []}))
        return FakeReply("Kim sleeps badly on weekdays.")  # the plain-text summary call

    fake_openai.respond = respond
    assert (await service.send_message_and_wait(info.user_id, info.session_id, "I sleep.")).ok

    turn = await memory_db.get_turn(info.session_id, 1)
    assert turn is not None
    step = turn.details[SUMMARY_STEP]
    assert isinstance(step, dict) and step["attempted"] and step["error"] is None
    summarizer_call = fake_openai.requests[0].body
    assert "response_format" not in summarizer_call  # the plain-text summary call
    assert step["request"] == summarizer_call["messages"]
    assert step["raw_output"] == "Kim sleeps badly on weekdays."
    assert step["sampling"] == turn.details[SAMPLING]
    assert step["sampling"] == {"temperature": None, "max_output_tokens": 300, "seed": None}
    assert summarizer_call["max_completion_tokens"] == 300
