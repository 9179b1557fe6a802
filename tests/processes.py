"""Real OS processes for the tests that need several: a worker module of the tests started with
this repository importable, told when to go, awaited, and never left running."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from coach.llm.base import LLMRequest
from coach.llm.scripted import Reply, ReplyFunction
from coach.process import ProcessId

REPO_ROOT = Path(__file__).resolve().parents[1]


def spawn(module: str, *args: str, clean_env: bool = False) -> subprocess.Popen[str]:
    """Start ``python -m module args`` from the repository, with pipes for its stdin, stdout
    and stderr.

    Args:
        clean_env: leave out the ``COACH_*`` variables, so the worker's settings come from its
            arguments only.
    """
    env = {k: v for k, v in os.environ.items() if not (clean_env and k.startswith("COACH_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def read_line(process: subprocess.Popen[str], *, timeout_s: float = 120) -> str:
    """The next line the process prints ("" when it ended first)."""
    assert process.stdout is not None
    return await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), timeout_s)


async def wait_ready(processes: Sequence[subprocess.Popen[str]]) -> None:
    """Wait for each process to print ``ready``; fail the test with its stderr otherwise."""
    for process in processes:
        line = await read_line(process)
        if line.strip() != "ready":
            pytest.fail(f"a worker process did not start: {line!r}\n{kill(process)}")


async def read_report(
    process: subprocess.Popen[str], *, reached: str, timeout_s: float = 60
) -> dict[str, Any]:
    """The JSON line a worker prints (``report_and_wait``) once it is where the test kills
    it; the test fails with the worker's stderr when it never gets there (``reached`` says
    where)."""
    try:
        report: dict[str, Any] = json.loads(await read_line(process, timeout_s=timeout_s))
    except (TimeoutError, json.JSONDecodeError):
        pytest.fail(f"the worker did not {reached}:\n{kill(process)}")
    return report


class AnswersThenHangs:
    """The model of a worker that is killed mid-task (a scripted client's function): it answers
    the first ``answered`` requests with ``answer`` and never the next one; ``hung`` is set once
    a request waits."""

    def __init__(self, answered: int, answer: ReplyFunction | None = None) -> None:
        self.answered = answered
        self.answer = answer
        self.asked = 0
        self.hung = asyncio.Event()

    async def __call__(self, request: LLMRequest) -> Reply:
        self.asked += 1
        if self.asked <= self.answered and self.answer is not None:
            reply = self.answer(request)
            return await reply if inspect.isawaitable(reply) else reply
        self.hung.set()
        await asyncio.Event().wait()  # the reply that never comes
        raise AssertionError("unreachable")


async def report_and_wait(**report: object) -> None:
    """A worker's last words: ``report``, with its process id as ``owner``, on one JSON line
    (``read_report``); then it waits to be killed."""
    print(json.dumps({**report, "owner": str(ProcessId.current())}), flush=True)
    await asyncio.Event().wait()


def tell(processes: Sequence[subprocess.Popen[str]], line: str) -> None:
    """Write ``line`` to every process's stdin."""
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(line + "\n")
        process.stdin.flush()


def kill(process: subprocess.Popen[str]) -> str:
    """SIGKILL the process and reap it (a zombie would still look alive in ``/proc``); return
    what it wrote to stderr."""
    process.kill()
    _, err = process.communicate(timeout=30)
    return err


@contextmanager
def running(processes: Sequence[subprocess.Popen[str]]) -> Iterator[None]:
    """Kill and reap whichever of the processes still runs when the block ends."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                kill(process)
