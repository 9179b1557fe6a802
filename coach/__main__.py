"""Terminal entry point: ``python -m coach {init-db,prompts,try,fork,replay,resume,compare,
export,import,eval,demo-data,chat}``.

Settings come from the environment (``COACH_*``), as in the app; see ``coach/config.py``. Logs
go to standard error as they say (``COACH_LOG_*``; ``coach.logs``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Sequence

from coach.assembly import build_database, build_service, open_llm_client
from coach.config import Settings
from coach.demo import DemoStep, play_demo
from coach.enums import CoachingState, OriginKind
from coach.errors import CoachError
from coach.evals import cli as eval_commands
from coach.llm.base import TextDelta
from coach.llm.scripted import ScriptedLLMClient
from coach.logs import configure_logging
from coach.models import PHASE_ORDER
from coach.persistence.base import DatabaseInterface
from coach.prompts import cli as prompt_commands
from coach.prompts.store import load_prompt_files
from coach.service import TurnEvent, TurnResult
from coach.sessions import cli as session_commands
from coach.turns import recover_interrupted


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coach", description=__doc__)
    parser.add_argument("--database-url", help="override COACH_DATABASE_URL")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "init-db",
        help="create the database or migrate it to the latest schema, and load the prompt files",
    )
    prompt_commands.add_commands(sub)
    prompt_commands.add_try_command(sub)
    session_commands.add_commands(sub)
    eval_commands.add_command(sub)
    demo = sub.add_parser("demo-data", help="load a complete sample session (all six phases)")
    demo.add_argument("--if-empty", action="store_true", help="only when no user exists yet")
    chat = sub.add_parser("chat", help="talk with the coach in the terminal")
    chat.add_argument("--user", help="user id (default: a new user)")
    chat.add_argument("--name", help="the client's name, for a new user")
    chat.add_argument("--session", help="session id to continue (default: a new session)")
    chat.add_argument("--provider", choices=["openai", "local"], help="override COACH_LLM_PROVIDER")
    args = parser.parse_args(argv)

    overrides: dict[str, str] = {}
    if args.database_url:
        overrides["database_url"] = args.database_url
    if getattr(args, "provider", None):
        overrides["llm_provider"] = args.provider
    settings = Settings.resolve(overrides)
    # In a terminal the turn lines would interleave with the chat and the tables: only
    # warnings, unless a level is asked for.
    quiet = "log_level" not in settings.model_fields_set
    configure_logging(settings.model_copy(update={"log_level": "WARNING"}) if quiet else settings)
    try:
        return asyncio.run(run(args, settings))
    except CoachError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


async def run(args: argparse.Namespace, settings: Settings) -> int:
    db = build_database(settings)
    try:
        await db.initialize()
        interrupted = await recover_interrupted(db)
        if interrupted:
            print(
                f"{len(interrupted)} turn(s) left unanswered by a stopped process are marked "
                "interrupted; /retry answers them",
                file=sys.stderr,
            )
        if args.command == "init-db":
            loaded = await load_prompt_files(db)
            counts = await db.count_records()
            print(f"database ready: {settings.describe()['database']}")
            print(", ".join(f"{k}: {v}" for k, v in counts.items()))
            changed = [x.describe() for x in loaded if x.changed or x.active != x.version]
            print(f"prompts: {len(loaded)} parts, {len(changed) or 'none'} new or changed")
            for line in changed:
                print(f"  {line}")
            return 0
        if args.command == "prompts":
            return await prompt_commands.run(args, db)
        if args.command == "try":
            return await try_turn(args, settings, db)
        if args.command in ("fork", "replay", "resume", "compare", "export", "import"):
            return await sessions(args, settings, db)
        if args.command == "eval":
            return await evaluate(args, settings, db)
        if args.command == "demo-data":
            return await load_demo(db, if_empty=args.if_empty)
        return await chat(args, settings, db)
    finally:
        await db.close()


async def try_turn(args: argparse.Namespace, settings: Settings, db: DatabaseInterface) -> int:
    client = await open_llm_client(settings)
    service = build_service(settings, client, db)
    try:
        return await prompt_commands.run_try(args, service)
    finally:
        await service.aclose()
        await client.aclose()


async def sessions(args: argparse.Namespace, settings: Settings, db: DatabaseInterface) -> int:
    # Only a live replay asks a model (also when resumed): the others need no client loaded.
    live = getattr(args, "live", False)
    if args.command == "resume":
        origin = await db.get_session_origin(args.session_id)
        live = origin is not None and origin.kind is OriginKind.REPLAY_LIVE
    client = await open_llm_client(settings) if live else ScriptedLLMClient()
    service = build_service(settings, client, db)
    try:
        return await session_commands.run(
            args, service, prices=settings.model_prices, max_bundle_mb=settings.max_bundle_mb
        )
    finally:
        await service.aclose()
        await client.aclose()


async def evaluate(args: argparse.Namespace, settings: Settings, db: DatabaseInterface) -> int:
    scenarios = eval_commands.chosen_scenarios(args, settings.scenarios_dir)  # before the model
    client = await open_llm_client(settings)
    service = build_service(settings, client, db)
    try:
        for run in await service.evals.recover():
            print(
                f"eval run {run.id} ({run.name}) was interrupted; --resume {run.id} plays the rest",
                file=sys.stderr,
            )
        return await eval_commands.run(args, service, scenarios, prices=settings.model_prices)
    finally:
        await service.aclose()
        await client.aclose()


async def load_demo(db: DatabaseInterface, *, if_empty: bool) -> int:
    if if_empty and (await db.count_records())["users"] > 0:
        print("the database already has users; demo data not loaded")
        return 0

    def progress(step: DemoStep, result: TurnResult) -> None:
        print(
            f"  turn {result.turn_seq}: {result.state_after.value} ({len(result.actions)} actions)"
        )

    info = await play_demo(db, on_turn=progress)
    print(f"demo session loaded: user {info.user_id}, session {info.session_id}")
    return 0


async def chat(args: argparse.Namespace, settings: Settings, db: DatabaseInterface) -> int:
    client = await open_llm_client(settings)
    service = build_service(settings, client, db)
    try:
        print(f"model: {client.provider} / {client.model} — type /quit to leave, /retry to retry")
        if client.provider == "local":
            print(
                "note: the bundled SmolLM2-135M model is tiny and offline; set "
                "COACH_OPENAI_API_KEY (and COACH_OPENAI_BASE_URL for a compatible server) "
                "for a real coach."
            )
        info = await service.start_session(args.user, session_id=args.session, user_name=args.name)
        print(f"user {info.user_id}  session {info.session_id}")
        if info.welcome is not None:
            print(f"\ncoach> {info.welcome.content}\n")
        state = info.state
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, _read_line, f"[{_progress(state)}] you> ")
            if line is None or line.strip() == "/quit":
                return 0
            if not line.strip():
                continue
            events = (
                service.retry_turn(info.user_id, info.session_id)
                if line.strip() == "/retry"
                else service.send_message(info.user_id, info.session_id, line)
            )
            try:
                result = await _print_stream(events)
            except CoachError as e:
                print(f"\n! {e}\n")
                continue
            state = result.state_after
    finally:
        await service.aclose()  # the turn being answered is stored before leaving
        await client.aclose()


async def _print_stream(events: AsyncIterator[TurnEvent]) -> TurnResult:
    print("coach> ", end="", flush=True)
    result: TurnResult | None = None
    async for event in events:
        if isinstance(event, TextDelta):
            print(event.text, end="", flush=True)
        elif isinstance(event, TurnResult):
            result = event
    assert result is not None
    print()
    if not result.ok:
        print(f"! the coach could not answer: {result.error} — type /retry to try again")
    # A refused phase change is among them: a rejected transition_state with the guard's reason.
    for action in result.actions:
        mark = "✓" if action.status.value == "applied" else "✗"
        print(f"  {mark} {action.type} {action.reason or ''}".rstrip())
    print()
    return result


def _progress(state: CoachingState) -> str:
    return f"{PHASE_ORDER.index(state) + 1}/6 {state.value}"


def _read_line(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


if __name__ == "__main__":
    sys.exit(main())
