"""Owners of pending turns: a dead process is recognised for certain on its own host, a live one
never is, and a process on another host goes by its heartbeat."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from coach.enums import CoachingState, TurnStatus
from coach.persistence.records import TurnSummary, utcnow
from coach.process import ProcessId, is_orphaned, is_running, start_time


def pending(owner: str | None, *, beat_age_s: float | None = None) -> TurnSummary:
    now = utcnow()
    return TurnSummary(
        session_id="s",
        user_id="u",
        seq=1,
        user_message_id="m",
        state_before=CoachingState.INTRODUCTION,
        state_after=CoachingState.INTRODUCTION,
        status=TurnStatus.PENDING,
        owner=owner,
        heartbeat_at=None if beat_age_s is None else now - timedelta(seconds=beat_age_s),
        created_at=now - timedelta(hours=1),
    )


def finished_process() -> ProcessId:
    """The id of a real process of this host that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    started = start_time(child.pid)
    assert started is not None
    child.wait()
    return ProcessId(ProcessId.current().host, child.pid, started)


def test_the_current_process_is_running_and_round_trips() -> None:
    me = ProcessId.current()
    assert me.pid == os.getpid() and me.started
    assert ProcessId.parse(str(me)) == me
    assert is_running(me) is True


def test_an_ended_process_is_not_running() -> None:
    assert is_running(finished_process()) is False


def test_a_reused_process_id_with_another_start_time_is_not_the_owner() -> None:
    me = ProcessId.current()
    assert is_running(ProcessId(me.host, me.pid, str(int(me.started) + 1))) is False


def test_another_hosts_process_cannot_be_told() -> None:
    assert is_running(ProcessId("some-other-host", os.getpid(), "1")) is None


def test_a_turn_of_a_live_process_is_never_orphaned_however_old() -> None:
    turn = pending(str(ProcessId.current()), beat_age_s=10_000)
    assert not is_orphaned(turn, now=utcnow(), stale_after=timedelta(seconds=60))


def test_a_turn_of_a_dead_process_is_orphaned_at_once() -> None:
    turn = pending(str(finished_process()), beat_age_s=0)
    assert is_orphaned(turn, now=utcnow(), stale_after=timedelta(hours=1))


def test_another_hosts_turn_goes_by_its_heartbeat() -> None:
    remote = str(ProcessId("some-other-host", 1, "1"))
    stale = timedelta(seconds=60)
    assert not is_orphaned(pending(remote, beat_age_s=5), now=utcnow(), stale_after=stale)
    assert is_orphaned(pending(remote, beat_age_s=120), now=utcnow(), stale_after=stale)
    # No heartbeat yet: the turn's age counts (an hour here).
    assert is_orphaned(pending(remote), now=utcnow(), stale_after=stale)


def test_an_unreadable_owner_goes_by_its_heartbeat() -> None:
    stale = timedelta(seconds=60)
    assert not is_orphaned(pending("garbage", beat_age_s=1), now=utcnow(), stale_after=stale)
    assert is_orphaned(pending(None), now=utcnow(), stale_after=stale)
