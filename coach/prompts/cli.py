"""``python -m coach prompts {list,show,diff,new,activate}`` and ``python -m coach try``: the
prompt lab from a terminal.

Errors print one line saying what to fix and exit with status 1 (``coach.__main__``); a
refused command changes nothing.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coach.persistence.base import DatabaseInterface
from coach.persistence.records import ExperimentRun
from coach.prompts.lab import diff, find_version, label_of, overview, save_edit, version_text
from coach.prompts.library import PromptPin
from coach.prompts.loader import PromptError
from coach.prompts.store import ACTIVE, DEFAULT, move_label
from coach.turns.experiments import experiment_trial
from coach.turns.trials import OnRun, Trial

if TYPE_CHECKING:
    from coach.service import CoachService


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prompts = sub.add_parser("prompts", help="list, show, diff, save and activate prompt versions")
    commands = prompts.add_subparsers(dest="prompts_command", required=True)
    commands.add_parser("list", help="every part with its active and default versions")
    show = commands.add_parser("show", help="a version written as a prompt file (default: active)")
    show.add_argument("part")
    which = show.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, help="version number")
    which.add_argument("--label", help="label name (active, default, ...)")
    changes = commands.add_parser("diff", help="unified diff of two versions of a part")
    changes.add_argument("part")
    changes.add_argument("a", type=int, help="version number")
    changes.add_argument("b", type=int, help="version number")
    new = commands.add_parser("new", help="save a prompt file as a new version of a part")
    new.add_argument("part")
    new.add_argument("--file", type=Path, required=True, help="the edited prompt file")
    new.add_argument("--note", required=True, help="what changed and why")
    new.add_argument("--author", default=getpass.getuser(), help="default: your user name")
    activate = commands.add_parser("activate", help="point a label (active) at a version")
    activate.add_argument("part")
    activate.add_argument("version", type=int)
    activate.add_argument("--label", default=ACTIVE, help="default: active")
    activate.add_argument("--by", default=getpass.getuser(), help="default: your user name")


def add_try_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trial = sub.add_parser(
        "try", help="answer a stored turn again with other prompt versions, writing nothing"
    )
    trial.add_argument("session_id")
    trial.add_argument("--turn", type=int, required=True, help="the turn's number (seq)")
    trial.add_argument("--runs", type=int, default=3, help="how many new answers (1-10)")
    trial.add_argument("--label", help="use the versions with this label (default: active)")
    trial.add_argument(
        "--version",
        action="append",
        default=[],
        metavar="PART=N",
        help="use version N of PART (repeatable; wins over --label)",
    )
    trial.add_argument("--provider", choices=["openai", "local"], help="the client to ask")
    trial.add_argument("--model", help="the model to ask (OpenAI-compatible servers only)")
    trial.add_argument(
        "--keep",
        metavar="NAME",
        help="store the runs as an experiment with this name (shown on the Prompts page)",
    )
    trial.add_argument("--json", action="store_true", help="print the result as JSON")


async def run_try(args: argparse.Namespace, service: CoachService) -> int:
    """Run ``try``; exit status 1 when every run failed."""
    pin = PromptPin.parse(args.label, ",".join(args.version))

    async def progress(run: ExperimentRun) -> None:
        if not args.json:
            print(f"  run {run.number} done ({run.latency_ms:,.0f} ms)", file=sys.stderr)

    if args.keep:
        trial = await _kept_trial(args, service, pin, progress)
    else:
        trial = await service.try_turn(
            args.session_id, args.turn, runs=args.runs, pin=pin, model=args.model, on_run=progress
        )
    if args.json:
        print(json.dumps(trial.as_json(), indent=2, ensure_ascii=False))
    else:
        _print_trial(trial)
    return 0 if any(run.error is None for run in trial.runs) else 1


async def _kept_trial(
    args: argparse.Namespace, service: CoachService, pin: PromptPin | None, progress: OnRun
) -> Trial:
    """The trial run as an experiment of the engine, followed to its end."""
    jobs = service.experiments
    started = await jobs.start(
        args.session_id,
        args.turn,
        runs=args.runs,
        pin=pin,
        model=args.model,
        name=args.keep,
        by=getpass.getuser(),
    )
    handle, seen, shown = jobs.handle(started.id), 0, set[int]()
    while handle is not None:
        now = await handle.wait(seen)
        seen = now.seen
        for number in sorted(set(now.ended) - shown):
            shown.add(number)
            await progress(now.ended[number])
        if now.error is not None:
            raise now.error
        if now.done:
            break
    ended = await service.db.get_experiment(started.id)
    assert ended is not None
    if not args.json:
        print(f"kept as experiment {ended.name!r} ({ended.id})", file=sys.stderr)
    return await experiment_trial(service.db, ended)


def _print_trial(trial: Trial) -> None:
    stored = trial.stored
    print(f"turn {trial.seq} of session {trial.session_id}")
    print(f"stored: {stored.prompt_version} · {stored.provider}/{stored.model}")
    print(f"now:    {trial.prompt_version} · {trial.model}")
    rows = [
        (
            "stored",
            stored.status.value,
            trial.stored_reply,
            _actions(trial.stored_actions),
            stored.input_tokens,
            stored.output_tokens,
        )
    ]
    rows += [
        (
            f"run {r.number}",
            "failed" if r.error else "ok",
            r.reply or r.error,
            _actions(r.actions),
            r.input_tokens,
            r.output_tokens,
        )
        for r in trial.runs
    ]
    for name, status, text, actions, tokens_in, tokens_out in rows:
        print(f"\n== {name} ({status}; tokens {tokens_in} in, {tokens_out} out)")
        print(text or "(no reply)")
        print(f"actions: {actions}")


def _actions(actions: list[dict[str, Any]]) -> str:
    return (
        ", ".join(f"{a['type']}({json.dumps(a['params'], ensure_ascii=False)})" for a in actions)
        or "none"
    )


async def run(args: argparse.Namespace, db: DatabaseInterface) -> int:
    """Run one ``prompts`` command. Raises ``CoachError`` with what to fix."""
    command = args.prompts_command
    if command == "list":
        return await _list(db)
    if command == "show":
        shown = await find_version(db, args.part, number=args.version, label=args.label or ACTIVE)
        print(version_text(shown), end="")
    elif command == "diff":
        a = await find_version(db, args.part, number=args.a)
        b = await find_version(db, args.part, number=args.b)
        print("\n".join(diff(a, b)) or f"{a.ref} and {b.ref} are the same")
    elif command == "new":
        text = _read(args.file)
        print((await save_edit(db, args.part, text, author=args.author, note=args.note)).describe())
    else:
        seen = await label_of(db, args.part, args.label)
        moved = await move_label(db, args.part, args.label, args.version, seen, args.by)
        before = "" if seen is None else f" (was {seen.version})"
        print(f"{moved.label} of {moved.part} is version {moved.version}{before}")
    return 0


async def _list(db: DatabaseInterface) -> int:
    parts = await overview(db)
    if not parts:
        raise PromptError("no prompt versions yet; run `python -m coach init-db` to load the files")
    rows = [("part", "active", "default", "versions", "other labels")]
    rows += [
        (p.part, str(p.active or "-"), str(p.labels.get(DEFAULT, "-")), str(p.versions), p.others())
        for p in parts
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PromptError(f"cannot read {path}: {e}") from e
