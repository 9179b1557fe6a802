"""Which process runs a pending turn, and whether it still does.

A pending turn records its owner: the host, the process id and the process's start time (from
``/proc``, so a process id reused after a restart is not mistaken for the old process). Another
engine on the same host can then tell for certain whether the owner is alive. For an owner on
another host (several app processes on one PostgreSQL), it goes by the turn's heartbeat.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Protocol


class Owned(Protocol):
    """Work stored with the process that runs it: a pending turn, a running experiment."""

    @property
    def owner(self) -> str | None: ...
    @property
    def heartbeat_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True)
class ProcessId:
    host: str
    pid: int
    #: The process's start time as ``/proc/<pid>/stat`` gives it; "" where there is no ``/proc``.
    started: str

    def __str__(self) -> str:
        return f"{self.host}/{self.pid}/{self.started}"

    @classmethod
    def parse(cls, text: str | None) -> ProcessId | None:
        """The process named by ``str(ProcessId)``, or ``None`` for anything else."""
        parts = (text or "").rsplit("/", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        host, pid, started = parts
        return cls(host, int(pid), started)

    @classmethod
    @cache
    def current(cls) -> ProcessId:
        return cls(socket.gethostname(), os.getpid(), start_time(os.getpid()) or "")


def start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot), ``""`` where ``/proc`` cannot
    tell, or ``None`` when no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None  # /proc works here: the process does not exist
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return ""  # exists, owned by another user
        return ""
    # The command name (field 2) may hold spaces and parentheses; the rest follows the last ")".
    fields = stat.rpartition(")")[2].split()
    return fields[19]  # field 22 of the whole line


def is_running(owner: ProcessId) -> bool | None:
    """Whether ``owner`` still runs: ``True``/``False`` on this host, ``None`` on another."""
    if owner.host != socket.gethostname():
        return None
    started = start_time(owner.pid)
    if started is None:
        return False
    return not owner.started or not started or owner.started == started


def is_orphaned(work: Owned, *, now: datetime, stale_after: timedelta) -> bool:
    """Whether the process of a pending turn (or running experiment) is gone: certainly (this
    host), or by its heartbeat (another host, or an owner that cannot be read), which is older
    than ``stale_after``."""
    owner = ProcessId.parse(work.owner)
    running = None if owner is None else is_running(owner)
    if running is not None:
        return not running
    last = work.heartbeat_at or work.created_at
    return now - last > stale_after
