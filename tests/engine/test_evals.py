"""Eval runs with scripted coaches and clients: the assertions and statistics are right, each
conversation is a real stored session of the run, runs are bounded, cancellable, resumable,
and repeats are independent unless a cache is asked for."""

from __future__ import annotations

import asyncio
import math
import socket

import pytest

from coach.enums import CoachingState, JobStatus, MessageRole
from coach.errors import ConfigurationError, InputError, LLMLengthError, PersistenceError
from coach.evals.client import STOP_SIGNAL, SimulatedClient
from coach.evals.report import build_report, pass_at_k, pass_hat_k, percentile
from coach.evals.runner import CANCELLED, INTERRUPTED
from coach.evals.scenario import ClientSpec, Persona
from coach.llm.base import LLMRequest, TextDelta
from coach.llm.scripted import ScriptedLLMClient
from coach.persistence import DatabaseInterface
from coach.persistence.memory import InMemoryDatabase
from coach.persistence.records import EvalRun, utcnow
from coach.prompts import PromptError
from coach.prompts.library import PromptPin
from coach.service import CoachService
from tests.engine.eval_helpers import BRAINSTORM, ScriptedModels, coach, first_turn, scenario


async def played(service: CoachService, started: EvalRun) -> EvalRun:
    handle = service.evals.handle(started.id)
    assert handle is not None
    await handle.ended()
    run = await service.db.get_eval_run(started.id)
    assert run is not None
    return run


async def test_a_scenario_built_to_pass_passes_every_run(db: DatabaseInterface) -> None:
    service = CoachService(ScriptedLLMClient(function=coach()), db)
    run = await played(service, await service.evals.start([scenario()], repeats=5))
    assert run.status is JobStatus.DONE and run.error is None
    assert [c.passed for c in run.conversations] == [True] * 5
    [report] = build_report(run).scenarios
    assert (report.overall.pass_rate, report.overall.pass_hat_k, report.overall.flaky) == (
        1.0,
        1.0,
        False,
    )
    assert all(rate.pass_rate == 1.0 for rate in report.checks.values())


async def test_a_scenario_built_to_fail_names_the_failed_assertion() -> None:
    service = CoachService(ScriptedLLMClient(function=coach()), InMemoryDatabase())
    failing = scenario(
        assertions=[
            {"check": "phase_reached", "phase": "identity_refinement"},
            {"check": "no_failed_turn"},
        ]
    )
    run = await played(service, await service.evals.start([failing], repeats=2))
    for conversation in run.conversations:
        assert conversation.passed is False
        failed = [c for c in conversation.checks if not c["passed"]]
        assert [c["name"] for c in failed] == ["reaches identity_refinement"]
        assert failed[0]["detail"] == "not reached in 4 turns; ended in identity_brainstorming"
    [report] = build_report(run).scenarios
    assert report.checks["reaches identity_refinement"].pass_rate == 0.0
    assert report.checks["no failed turn"].pass_rate == 1.0


async def test_seven_passes_of_ten_give_the_pass_rate_and_pass_hat_3() -> None:
    service = CoachService(ScriptedLLMClient(function=coach(lambda n: n <= 7)), InMemoryDatabase())
    run = await played(service, await service.evals.start([scenario()], repeats=10))
    [report] = build_report(run, k=3).scenarios
    assert (report.overall.n, report.overall.passed) == (10, 7)
    assert report.overall.pass_rate == 0.7
    assert report.overall.pass_hat_k == pytest.approx(35 / 120)  # C(7,3) / C(10,3)
    assert report.overall.pass_at_k == pytest.approx(1 - 1 / 120)  # 1 - C(3,3) / C(10,3)
    assert report.overall.flaky
    assert build_report(run, k=1).scenarios[0].overall.pass_hat_k == pytest.approx(0.7)


def test_pass_at_k_and_pass_hat_k_follow_their_definitions() -> None:
    for n, c, k in [(10, 7, 3), (5, 5, 2), (5, 0, 2), (8, 3, 8), (4, 2, 1)]:
        assert pass_hat_k(n, c, k) == pytest.approx(math.comb(c, k) / math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k))
    assert pass_at_k(2, 1, 3) is None and pass_hat_k(2, 1, 3) is None
    with pytest.raises(ValueError, match="passed <= tries"):
        pass_hat_k(3, 4, 1)
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 20.0], 95) == pytest.approx(19.5)


async def test_each_conversation_is_a_stored_session_tagged_with_the_run(
    db: DatabaseInterface,
) -> None:
    service = CoachService(ScriptedLLMClient(function=coach()), db)
    run = await played(service, await service.evals.start([scenario()], repeats=2))
    assert [(c.scenario, c.repeat) for c in run.conversations] == [
        ("reaches-brainstorming", 1),
        ("reaches-brainstorming", 2),
    ]
    for conversation in run.conversations:
        turns = await db.list_turns(conversation.session_id)
        assert len(turns) == conversation.turns == 4  # the opening and the three lines
        said = [
            m.content
            for m in await db.list_messages(conversation.session_id, limit=100)
            if m.role is MessageRole.USER
        ]
        assert said == [
            "Hello, I want to find out who I am.",
            "I like drawing.",
            "And cooking.",
            "That is all.",
        ]
        assert conversation.input_tokens == sum(t.input_tokens or 0 for t in turns) > 0
        assert len(conversation.latencies_ms) == 4
        assert conversation.model == "scripted/scripted"
    assert len({c.user_id for c in run.conversations}) == 2  # a new client each time


async def test_refused_phase_changes_are_counted() -> None:
    def skipper(request: LLMRequest) -> dict[str, object]:
        skip = {"type": "transition_state", "params": {"to_state": "action_planning"}}
        return {"message": "Let us go.", "actions": [skip] if first_turn(request) else []}

    service = CoachService(ScriptedLLMClient(function=skipper), InMemoryDatabase())
    guarded = scenario(
        assertions=[
            {"check": "refused_transitions", "at_least": 1, "at_most": 1},
            {"check": "refused_transitions", "at_most": 0},
        ]
    )
    run = await played(service, await service.evals.start([guarded], repeats=1))
    [conversation] = run.conversations
    outcomes = {c["name"]: (c["passed"], c["detail"]) for c in conversation.checks}
    assert outcomes == {
        "refused phase changes between 1 and 1": (True, "1 refused (turns 1)"),
        "refused phase changes at most 0": (False, "1 refused (turns 1)"),
    }


async def test_conversations_run_at_most_the_bound_at_once() -> None:
    running = peak = 0

    async def slow(request: LLMRequest) -> dict[str, object]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return {"message": "Go on.", "actions": [BRAINSTORM] if first_turn(request) else []}

    service = CoachService(ScriptedLLMClient(function=slow), InMemoryDatabase())
    run = await played(service, await service.evals.start([scenario()], repeats=7, concurrency=3))
    assert len(run.conversations) == 7 and all(c.passed for c in run.conversations)
    assert peak == 3


async def test_repeats_ask_the_model_each_time_unless_a_cache_is_asked_for() -> None:
    independent = ScriptedLLMClient(function=coach())
    service = CoachService(independent, InMemoryDatabase())
    await played(service, await service.evals.start([scenario()], repeats=3))
    assert len(independent.requests) == 12  # 3 conversations of 4 turns

    cached_client = ScriptedLLMClient(function=coach())
    service = CoachService(cached_client, InMemoryDatabase())
    run = await played(
        service, await service.evals.start([scenario()], repeats=3, concurrency=1, cached=True)
    )
    assert run.cached
    assert len(cached_client.requests) < 12
    assert all(c.passed for c in run.conversations)


async def test_a_persona_is_played_by_a_model_that_never_sees_the_coachs_prompt() -> None:
    client_model = ScriptedLLMClient(
        ["I paint on weekends.", f"Thanks, that is enough for today. {STOP_SIGNAL}"],
        model="client-model",
    )
    coach_client = ScriptedModels({"client-model": client_model}, function=coach())
    db = InMemoryDatabase()
    jobs = CoachService(coach_client, db).evals
    persona = scenario(
        client={
            "persona": {
                "name": "Quill Oduya-Marsh",
                "background": "a baker",
                "goals": ["find her voice"],
            }
        },
        client_model="client-model",
        max_turns=10,
    )
    started = await jobs.start([persona], repeats=1)
    handle = jobs.handle(started.id)
    assert handle is not None
    await handle.ended()
    run = await db.get_eval_run(started.id)
    assert run is not None
    [conversation] = run.conversations
    assert conversation.turns == 3  # the opening, one answer, and the last words
    said = [
        m.content
        for m in await db.list_messages(conversation.session_id, limit=100)
        if m.role is MessageRole.USER
    ]
    assert said[1:] == ["I paint on weekends.", "Thanks, that is enough for today."]
    coach_system = coach_client.requests[0].messages[0].content
    for request in client_model.requests:
        assert request.messages[0].role == "system"
        assert "Quill Oduya-Marsh" in request.messages[0].content
        assert coach_system not in request.messages[0].content
        assert all("response_format" not in m.content for m in request.messages)
        # The coach speaks to the client model as its "user"; the client's words are its own.
        assert request.messages[-1].role == "user"
        assert request.response_schema is None
    user = await db.get_user(conversation.user_id)
    assert user is not None and user.data.get("name") == "Quill Oduya-Marsh"


async def test_a_rubric_is_judged_by_a_model_and_kept_apart_from_the_checks() -> None:
    verdicts = iter([{"passed": False, "reason": "it asked two questions"}])

    def answer(request: LLMRequest) -> dict[str, object]:
        if request.schema_name == "verdict":
            return next(verdicts)
        return coach()(request)  # type: ignore[return-value]

    service = CoachService(ScriptedLLMClient(function=answer), InMemoryDatabase())
    judged = scenario(rubric={"criteria": ["The coach asks one question at a time."]})
    run = await played(service, await service.evals.start([judged], repeats=1))
    [conversation] = run.conversations
    assert conversation.passed is True  # the rubric does not decide it
    rubric = [c for c in conversation.checks if c["kind"] == "rubric"]
    assert rubric == [
        {
            "name": "The coach asks one question at a time.",
            "passed": False,
            "detail": "it asked two questions",
            "kind": "rubric",
        }
    ]
    [report] = build_report(run).scenarios
    assert report.rubric["The coach asks one question at a time."].pass_rate == 0.0
    assert report.overall.pass_rate == 1.0


async def test_a_model_failure_fails_one_conversation_with_its_reason_not_the_run() -> None:
    persona = scenario(
        client={"persona": {"name": "Ode Tamsin", "background": "b", "goals": ["g"]}},
        client_model="gone",
    )
    broken = ScriptedLLMClient([ConfigurationError("the client model is gone")], model="gone")
    jobs = CoachService(
        ScriptedModels({"gone": broken}, function=coach()), InMemoryDatabase()
    ).evals
    started = await jobs.start([persona])
    handle = jobs.handle(started.id)
    assert handle is not None
    await handle.ended()
    run = await jobs.db.get_eval_run(started.id)
    assert run is not None and run.status is JobStatus.DONE
    [conversation] = run.conversations
    assert conversation.status is JobStatus.FAILED and conversation.passed is None
    assert conversation.error == "ConfigurationError: the client model is gone"
    assert conversation.turns == 1  # the opening was answered and kept
    [report] = build_report(run).scenarios
    assert (report.overall.n, report.overall.passed, report.failed) == (1, 0, 1)


async def test_bad_input_is_refused_before_anything_is_stored() -> None:
    db = InMemoryDatabase()
    service = CoachService(ScriptedLLMClient(function=coach()), db)
    before = await db.count_records()
    with pytest.raises(InputError, match="at least one scenario"):
        await service.evals.start([])
    with pytest.raises(InputError, match="runs per scenario must be 1 to 100"):
        await service.evals.start([scenario()], repeats=0)
    with pytest.raises(InputError, match="concurrency must be 1 to 32"):
        await service.evals.start([scenario()], concurrency=0)
    with pytest.raises(PromptError):
        await service.evals.start([scenario()], pin=PromptPin(label="no-such-label"))
    with pytest.raises(ConfigurationError, match="COACH_LLM_PROVIDER=openai"):
        await service.evals.start([scenario()], model="gpt-other")
    assert await db.list_eval_runs() == []
    assert await db.count_records() == before


async def test_a_cancelled_run_keeps_its_ended_conversations_and_resumes() -> None:
    gate = asyncio.Event()
    asked = 0

    async def stalls_after_two(request: LLMRequest) -> dict[str, object]:
        nonlocal asked
        asked += 1
        if asked > 8:  # two conversations of four turns, then nothing more
            await gate.wait()
        return {"message": "Go on.", "actions": [BRAINSTORM] if first_turn(request) else []}

    db = InMemoryDatabase()
    service = CoachService(ScriptedLLMClient(function=stalls_after_two), db)
    started = await service.evals.start([scenario()], repeats=4, concurrency=1)
    handle = service.evals.handle(started.id)
    assert handle is not None
    seen = 0
    while handle.done < 2:
        seen = (await handle.wait(seen, within_s=1)).seen
    assert service.evals.cancel(started.id)
    await handle.ended()
    run = await db.get_eval_run(started.id)
    assert run is not None
    assert (run.status, run.error) == (JobStatus.FAILED, CANCELLED)
    kept = [(c.repeat, c.status) for c in run.conversations]
    assert kept[:2] == [(1, JobStatus.DONE), (2, JobStatus.DONE)]
    assert kept[2:] == [(3, JobStatus.FAILED)]  # the one cut short, kept with its turns
    gate.set()
    resumed = await service.evals.resume(started.id)
    assert resumed.id == started.id
    run = await played(service, resumed)
    assert run.status is JobStatus.DONE
    done = sorted(c.repeat for c in run.conversations if c.status is JobStatus.DONE)
    assert done == [1, 2, 3, 4]
    report = build_report(run).scenarios[0]
    assert (report.overall.n, report.overall.passed) == (5, 4)  # the cut one counts, failed
    with pytest.raises(InputError, match="has played every conversation"):
        await service.evals.resume(started.id)


async def test_a_run_left_running_by_a_dead_process_is_ended_interrupted() -> None:
    db = InMemoryDatabase()
    service = CoachService(ScriptedLLMClient(function=coach()), db)
    dead = f"{socket.gethostname()}/999999999/1"  # this host, no such process
    orphan = await db.save_eval_run(
        EvalRun(
            name="orphan",
            scenarios=[scenario().model_dump(mode="json")],
            repeats=2,
            owner=dead,
            heartbeat_at=utcnow(),
        )
    )
    [ended] = await service.evals.recover()
    assert (ended.id, ended.status, ended.error) == (orphan.id, JobStatus.FAILED, INTERRUPTED)
    assert await service.evals.recover() == []
    run = await played(service, await service.evals.resume(orphan.id))
    assert [c.passed for c in run.conversations] == [True, True]


async def test_a_fixture_start_continues_a_stored_session_at_turn_n(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from coach.demo import play_demo
    from coach.evals.make import scenario_from_session
    from coach.evals.scenario import load_scenario

    source_db = InMemoryDatabase()
    demo = await play_demo(source_db)
    made = await scenario_from_session(source_db, demo.session_id, 5, name="from-demo")
    path = made.write(tmp_path)
    loaded = load_scenario(path)
    assert loaded.start is not None and loaded.start.at_turn == 5

    db = InMemoryDatabase()  # another database: the scenario carries its own copy
    service = CoachService(ScriptedLLMClient(function=coach()), db)
    run = await played(service, await service.evals.start([loaded], repeats=2))
    assert run.status is JobStatus.DONE, run.error
    for conversation in run.conversations:
        turns = await db.list_turns(conversation.session_id)
        assert len(turns) == 5 + conversation.turns
        assert conversation.turns == 5  # turns 6 to 10 of the demo, said again
        assert turns[5].state_before is CoachingState.IDENTITY_REFINEMENT
    sessions = {c.session_id for c in run.conversations}
    assert len(sessions) == 2


class _Rambler(ScriptedLLMClient):
    """A client model that talks past its token limit: a sentence and a half, then cut off."""

    async def stream(self, request: LLMRequest):  # type: ignore[no-untyped-def,override]
        self.requests.append(request)
        yield TextDelta("I bake bread at night. Then I usually ")
        raise LLMLengthError("the reply was cut off at the output limit")


async def test_a_simulated_client_cut_off_by_its_token_limit_keeps_its_whole_sentences() -> None:
    spec = ClientSpec(persona=Persona(name="Noor Ekwall", background="baker", goals=["rest"]))
    answer = await SimulatedClient(spec, _Rambler()).next_message([])
    assert (answer.text, answer.last) == ("I bake bread at night.", False)
    with pytest.raises(LLMLengthError):  # nothing whole to keep: the error stands
        await SimulatedClient(spec, _Silent()).next_message([])


class _Silent(ScriptedLLMClient):
    async def stream(self, request: LLMRequest):  # type: ignore[no-untyped-def,override]
        yield TextDelta("Well")
        raise LLMLengthError("the reply was cut off at the output limit")


async def test_a_conversation_that_cannot_open_ends_the_run_saying_why() -> None:
    class Broken(InMemoryDatabase):
        async def save_eval_conversation(self, conversation):  # type: ignore[no-untyped-def]
            raise PersistenceError("the disk is full")

    db = Broken()
    service = CoachService(ScriptedLLMClient(function=coach()), db)
    run = await played(service, await service.evals.start([scenario()], repeats=2))
    assert (run.status, run.error) == (
        JobStatus.FAILED,
        "failed: PersistenceError: the disk is full",
    )
