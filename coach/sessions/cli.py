"""``python -m coach {fork,replay,compare,export,import}``: forks, replays, comparisons and
bundles from a terminal.

A fork or replay runs as a task of the engine, as in the app, with its progress on stderr;
Ctrl-C cancels it (the turns made so far are kept). Errors print one line saying what to fix
and exit with status 1 (``coach.__main__``); an exact replay that differs from its source
exits with status 1 too, so it can gate a change of the engine.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from coach.config import MAX_BUNDLE_MB
from coach.costs import Price
from coach.enums import JobStatus
from coach.errors import CoachError, InputError
from coach.persistence.records import SessionOrigin
from coach.prompts.library import PromptPin
from coach.service import CoachService
from coach.sessions.bundles import (
    BundleError,
    check_size,
    export_session,
    export_user,
    import_bundle,
    moved_versions,
    read_bundle,
)
from coach.sessions.compare import Comparison, compare_sessions
from coach.sessions.jobs import JobHandle


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fork = sub.add_parser("fork", help="copy a session's first turns into a new session")
    fork.add_argument("session_id")
    fork.add_argument("--at", type=int, required=True, help="the last turn to copy")
    fork.add_argument(
        "--same-client",
        action="store_true",
        help="a new session of the same client (sharing its identities), not of a copy",
    )
    fork.add_argument("--json", action="store_true", help="print the result as JSON")
    replay = sub.add_parser("replay", help="send a session's messages again into a new session")
    replay.add_argument("session_id")
    mode = replay.add_mutually_exclusive_group(required=True)
    mode.add_argument("--exact", action="store_true", help="feed back the recorded outputs")
    mode.add_argument("--live", action="store_true", help="ask the model again")
    replay.add_argument("--label", help="live: use the versions with this label")
    replay.add_argument(
        "--version", action="append", default=[], metavar="PART=N", help="live: version N of PART"
    )
    replay.add_argument("--provider", choices=["openai", "local"], help="live: the client")
    replay.add_argument("--model", help="live: the model (OpenAI-compatible servers only)")
    replay.add_argument("--json", action="store_true", help="print the result as JSON")
    resume = sub.add_parser(
        "resume", help="go on with a fork or replay that stopped (interrupted or cancelled)"
    )
    resume.add_argument("session_id", help="the session the fork or replay makes")
    resume.add_argument("--json", action="store_true", help="print the result as JSON")
    export = sub.add_parser("export", help="print a session (or a user) as a bundle")
    export.add_argument("session_id", nargs="?")
    export.add_argument("--user", metavar="USER_ID", help="the user with every session")
    load = sub.add_parser("import", help="import a bundle (all or nothing)")
    load.add_argument("file", type=Path, help="the bundle file (- for standard input)")
    load.add_argument(
        "--keep-ids", action="store_true", help="keep the bundle's ids (none may be stored yet)"
    )
    compare = sub.add_parser("compare", help="compare two sessions")
    compare.add_argument("a")
    compare.add_argument("b")
    compare.add_argument("--json", action="store_true", help="print the result as JSON")


async def run(
    args: argparse.Namespace,
    service: CoachService,
    *,
    prices: Mapping[str, Price] | None = None,
    max_bundle_mb: int = MAX_BUNDLE_MB,
) -> int:
    """Run ``fork``, ``replay``, ``resume``, ``compare``, ``export`` or ``import`` (``prices``: the
    settings' price table, for the cost in ``compare``; ``max_bundle_mb``: the largest bundle
    an import reads). Raises ``CoachError`` with what to fix."""
    if args.command == "export":
        if bool(args.session_id) == bool(args.user):
            raise InputError("name a session, or a user with --user (not both)")
        db = service.db
        bundle = await (
            export_user(db, args.user) if args.user else export_session(db, args.session_id)
        )
        text = bundle.to_json()
        print(text)
        try:
            check_size(len(text.encode()), max_bundle_mb)
        except BundleError as e:
            print(
                f"warning: this bundle cannot be imported as things are: {e.problems[0]}",
                file=sys.stderr,
            )
        return 0
    if args.command == "import":
        bundle = read_bundle(_read(args.file, max_bundle_mb), max_mb=max_bundle_mb)
        stored = await import_bundle(service.db, bundle, keep_ids=args.keep_ids)
        print(
            f"imported {len(stored.users)} user(s) and {len(stored.sessions)} session(s) "
            f"({'with their own ids' if args.keep_ids else 'under new ids'}):"
        )
        for session in stored.sessions:
            print(f"  session {session.session_id} of user {session.user_id}")
        for moved in moved_versions(bundle, stored):
            print(f"  prompt version {moved} (the two databases number their versions apart)")
        return 0
    if args.command == "compare":
        found = await compare_sessions(service.db, args.a, args.b, prices=prices)
        print(json.dumps(found.as_json(), indent=2) if args.json else _comparison_text(found))
        return 0
    jobs = service.sessions
    if args.command == "fork":
        started = await jobs.fork(
            args.session_id, args.at, same_client=args.same_client, by=getpass.getuser()
        )
    elif args.command == "resume":
        started = await jobs.resume(args.session_id)
    else:
        pin = PromptPin.parse(args.label, ",".join(args.version))
        started = await jobs.replay(
            args.session_id, live=args.live, pin=pin, model=args.model, by=getpass.getuser()
        )
    ended = await _follow(service, started)
    if args.json:
        print(ended.model_dump_json(indent=2))
    else:
        print(_origin_text(ended))
    if ended.status is not JobStatus.DONE:
        return 1
    return 1 if ended.kind.value == "replay_exact" and ended.differences else 0


async def _follow(service: CoachService, started: SessionOrigin) -> SessionOrigin:
    """Show the task's progress until it ends; Ctrl-C cancels it."""
    jobs = service.sessions
    await follow_in_terminal(jobs.handle(started.session_id), "turn", jobs.cancel)
    ended = await service.db.get_session_origin(started.session_id)
    if ended is None:
        raise CoachError(f"session {started.session_id} was deleted while it was being made")
    return ended


async def follow_in_terminal(
    handle: JobHandle | None, unit: str, cancel: Callable[[str], bool]
) -> None:
    """Show a task's progress on stderr (``unit`` done/total; in place, with the time taken, on
    a terminal) until it ends. Ctrl-C or an error cancels it (what it made is kept)."""
    live = sys.stderr.isatty()
    try:
        seen, shown = 0, ""
        while handle is not None:
            progress = await handle.wait(seen, within_s=1.0)
            seen = progress.seen
            line = f"  {unit} {progress.done}/{progress.total}"
            if live:
                elapsed = time.monotonic() - handle.started
                print(f"\r{line} · {elapsed:.0f} s", end="", file=sys.stderr)
            elif line != shown:
                print(line, file=sys.stderr)
            shown = line
            if progress.finished:
                if live:
                    print(file=sys.stderr)
                break
    except BaseException:  # Ctrl-C (the task is cancelled) or an error: stop it
        if handle is not None:
            cancel(handle.key)
            await handle.ended()
        raise


def _origin_text(origin: SessionOrigin) -> str:
    made = "forked" if origin.kind.value == "fork" else origin.kind.value.replace("_", " ")
    lines = [
        f"{made}: session {origin.session_id} from {origin.source_session_id} "
        f"({origin.turns_done} of {origin.turns_total} turns, {origin.status.value})"
    ]
    if origin.error:
        lines.append(origin.error)
    if origin.status is JobStatus.DONE and origin.kind.value != "fork":
        if not origin.differences:
            lines.append("no difference from the source")
        else:
            lines.append(f"{len(origin.differences)} difference(s) from the source:")
            lines += [f"  {_difference(d)}" for d in origin.differences[:20]]
    return "\n".join(lines)


def _difference(d: Mapping[str, Any]) -> str:
    where = "at the end" if not d.get("seq") else f"turn {d['seq']}"
    original = json.dumps(d.get("original"), ensure_ascii=False)
    replayed = json.dumps(d.get("replayed"), ensure_ascii=False)
    return f"{where}: {d.get('what')} was {original}, now {replayed}"


def _read(path: Path, max_mb: int) -> bytes:
    """The bundle's bytes; one over ``max_mb`` MB is refused before it is read."""
    if str(path) == "-":
        data = sys.stdin.buffer.read(max_mb * 1_000_000 + 1)
    else:
        try:
            check_size(path.stat().st_size, max_mb)
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read {path}: {e.strerror}") from e
    return data


def _comparison_text(found: Comparison) -> str:
    a, b = found.a, found.b
    lines = [
        f"{name} {side.session_id}: {side.turns} turns ({side.failed_turns} failed), tokens "
        f"{side.input_tokens} in / {side.output_tokens} out, {side.latency_ms:,.0f} ms, "
        f"cost {side.cost.describe()}"
        for name, side in (("A", a), ("B", b))
    ]
    if found.first_divergence is None:
        lines.append("no divergence: the same conversation and coaching events")
    else:
        lines.append(f"first divergence: turn {found.first_divergence}")
        if found.first_text_divergence:
            lines.append(f"  text differs from turn {found.first_text_divergence}")
        lines += [f"  {line}" for line in found.event_divergence]
    for change in found.identities:
        lines.append(f"identity {change.label!r}: {change.change}")
    return "\n".join(lines)
