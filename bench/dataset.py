"""What ``bench.generate`` writes: realistic coaching data, planned from a seed.

Users with names and goals, created over a year; sessions spread over users (a few users have
many) and over time, in every phase; messages per session from a long-tailed distribution (a few
sessions run to thousands of messages); identities for most users; turn logs for the newest
sessions and the largest ones. ``plan`` decides every user and session; the ``*_row`` functions
turn them into rows of the SQL backend's tables.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bench.common import IDENTITY_LABELS, SYSTEM_PROMPT
from coach.enums import CoachingState, IdentityState
from coach.persistence.rules import label_key
from coach.persistence.sql.convert import search_key

PHASES = tuple(CoachingState)
#: Share of the sessions (the newest) that have turn logs; the largest sessions have them too.
TURN_LOG_SHARE = 0.05
BIG_SESSIONS = 5
BIG_SESSION_MESSAGES = 5000

FIRST_NAMES = (
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko",
    "Liam", "Maya", "Nikolai", "Olivia", "Priya", "Quentin", "Rosa", "Sam", "Tariq", "Uma",
    "Victor", "Wen", "Ximena", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Andersen", "Brooks", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jansen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Silva",
    "Tanaka", "Usman", "Varga", "Weber", "Yilmaz", "Zhang",
)  # fmt: skip
GOALS = (
    "paint again every week",
    "be present with my kids",
    "stop worrying about money",
    "run a half marathon",
    "finish what I start",
    "switch off after work",
    "save for a house",
    "feel at home in my body",
)
ADJECTIVES = (
    "Creative", "Devoted", "Calm", "Steady", "Generous", "Quiet", "Confident", "Curious",
    "Patient", "Bold", "Playful", "Grounded",
)  # fmt: skip
NOUNS = (
    "Visionary", "Parent", "Keeper", "Runner", "Partner", "Believer", "Earner", "Maker",
    "Learner", "Friend", "Leader", "Builder",
)  # fmt: skip
CATEGORIES = tuple(category for _, category in IDENTITY_LABELS)


@dataclass(frozen=True)
class Sizes:
    users: int
    sessions: int
    messages: int

    def with_overrides(
        self, *, users: int | None, sessions: int | None, messages: int | None
    ) -> Sizes:
        return replace(
            self,
            users=users or self.users,
            sessions=sessions or self.sessions,
            messages=messages or self.messages,
        )

    def check(self) -> None:
        if not 1 <= self.users <= self.sessions <= self.messages:
            raise ValueError(
                f"need 1 <= users <= sessions <= messages, got {self.users:,} users, "
                f"{self.sessions:,} sessions, {self.messages:,} messages"
            )


FULL_SIZES = Sizes(users=10_000, sessions=100_000, messages=5_000_000)
QUICK_SIZES = Sizes(users=40, sessions=300, messages=6_000)


# -- the plan ------------------------------------------------------------------------------------


@dataclass
class PlannedUser:
    id: str
    name: str
    created_at: datetime
    sessions: list[int] = field(default_factory=list)


@dataclass
class PlannedSession:
    index: int
    id: str
    user: int
    messages: int
    created_at: datetime
    step: timedelta
    phase: CoachingState
    turn_log: bool = False

    @property
    def turns(self) -> int:
        """Complete exchanges after the welcome message (an odd message awaits its reply)."""
        return (self.messages - 1) // 2

    @property
    def last_activity_at(self) -> datetime:
        return self.created_at + self.step * (self.messages - 1)

    def phase_index_at(self, seq: int) -> int:
        """The phase the session was in at turn ``seq``: spread evenly up to its final phase."""
        final = PHASES.index(self.phase)
        return min(final, final * seq // max(self.turns, 1))


def rng_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def split_total(rng: random.Random, total: int, parts: int, minimum: int) -> list[int]:
    """``parts`` long-tailed counts of at least ``minimum`` that add up to ``total``."""
    weights = [rng.lognormvariate(0.0, 0.9) for _ in range(parts)]
    spare = total - minimum * parts
    scale = spare / sum(weights)
    counts = [minimum + int(w * scale) for w in weights]
    short = total - sum(counts)
    for i in rng.sample(range(parts), k=min(parts, short)):
        counts[i] += 1
    short = total - sum(counts)
    counts[0] += short  # only when short > parts, which the sample above rules out
    return counts


def plan(
    sizes: Sizes, *, seed: int, now: datetime
) -> tuple[list[PlannedUser], list[PlannedSession]]:
    """Decide every user and session (not yet the messages) from the seed."""
    sizes.check()
    rng = random.Random(seed)
    year = timedelta(days=365)
    users = [
        PlannedUser(
            id=rng_uuid(rng),
            name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            created_at=now - year * rng.random() ** 1.5,
        )
        for _ in range(sizes.users)
    ]
    # Every user has a session; the rest go to users by a long-tailed weight.
    owners = list(range(sizes.users))
    weights = [rng.paretovariate(1.5) for _ in range(sizes.users)]
    owners += rng.choices(range(sizes.users), weights=weights, k=sizes.sessions - sizes.users)
    rng.shuffle(owners)

    big = min(BIG_SESSIONS, sizes.sessions)
    big_size = max(1, min(BIG_SESSION_MESSAGES, sizes.messages // (10 * big)))
    rest = sizes.messages - big * big_size
    counts = [big_size] * big + split_total(rng, rest, sizes.sessions - big, 1)

    sessions: list[PlannedSession] = []
    for i, (owner, count) in enumerate(zip(owners, counts, strict=True)):
        user = users[owner]
        step = timedelta(seconds=rng.uniform(20, 90))
        duration = step * (count - 1)
        latest_start = now - duration - timedelta(minutes=1)
        span = max((latest_start - user.created_at).total_seconds(), 0.0)
        created = user.created_at + timedelta(seconds=span * rng.random())
        turns = (count - 1) // 2
        phase = PHASES[min(len(PHASES) - 1, int(turns / 10 + rng.random() * 2))]
        sessions.append(
            PlannedSession(
                index=i,
                id=rng_uuid(rng),
                user=owner,
                messages=count,
                created_at=created,
                step=step,
                phase=phase,
            )
        )
        user.sessions.append(i)
    newest = sorted(sessions, key=lambda s: s.created_at, reverse=True)
    for s in newest[: max(1, int(len(sessions) * TURN_LOG_SHARE))]:
        s.turn_log = True
    for s in sessions[:big]:
        s.turn_log = True
    return users, sessions


# -- rows ----------------------------------------------------------------------------------------


def user_row(user: PlannedUser, rng: random.Random) -> dict[str, Any]:
    goals = rng.sample(GOALS, k=rng.randint(0, 3))
    return {
        "id": user.id,
        "id_key": search_key(user.id),
        "name": user.name,
        "name_key": search_key(user.name),
        "data": {"name": user.name, "goals": goals},
        "version": 1,
        "created_at": user.created_at,
        "updated_at": user.created_at,
    }


def session_row(s: PlannedSession, users: Sequence[PlannedUser]) -> dict[str, Any]:
    return {
        "id": s.id,
        "user_id": users[s.user].id,
        "id_key": search_key(s.id),
        "user_key": search_key(users[s.user].id),
        "state": s.phase.value,
        "message_count": s.messages,
        "turn_count": s.turns if s.turn_log else 0,
        "created_at": s.created_at,
        "last_activity_at": s.last_activity_at,
    }


def state_row(s: PlannedSession, users: Sequence[PlannedUser]) -> dict[str, Any]:
    return {
        "session_id": s.id,
        "user_id": users[s.user].id,
        "state": s.phase.value,
        "focus_identity_id": None,
        "created_at": s.created_at,
        "updated_at": s.last_activity_at,
    }


def context_row(s: PlannedSession, users: Sequence[PlannedUser]) -> dict[str, Any]:
    summary = (
        {"summary": f"The client has talked through {s.turns} exchanges so far."}
        if s.messages > 40
        else {}
    )
    return {
        "session_id": s.id,
        "user_id": users[s.user].id,
        "user_data": summary,
        "version": 1 + s.turns,  # the welcome message, then one save per turn
        "message_count": s.messages,
        "created_at": s.created_at,
        "updated_at": s.last_activity_at,
    }


def identity_rows(
    user: PlannedUser, sessions: Sequence[PlannedSession], rng: random.Random
) -> Iterator[dict[str, Any]]:
    count = rng.choice((0, 1, 2, 3, 3, 4, 5, 6, 8))
    labels: set[str] = set()
    for _ in range(count):
        label = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        if label_key(label) in labels:
            continue
        labels.add(label_key(label))
        session = sessions[rng.choice(user.sessions)]
        state = rng.choice(
            (IdentityState.PROPOSED, IdentityState.ACCEPTED, IdentityState.ACCEPTED,
             IdentityState.REFINED, IdentityState.DISMISSED)
        )  # fmt: skip
        refined = state is IdentityState.REFINED
        created = session.created_at + session.step * rng.randint(0, session.messages - 1)
        yield {
            "id": rng_uuid(rng),
            "user_id": user.id,
            "session_id": session.id,
            "label": label,
            "label_key": label_key(label),
            "category": rng.choice(CATEGORIES),
            "description": f"{label}: someone who {rng.choice(GOALS)}.",
            "state": state.value,
            "affirmation": f"I am a {label.lower()}." if refined else None,
            "visualization": "Saturday morning, the light through the window." if refined else None,
            "notes": [f"Came up while talking about how to {rng.choice(GOALS)}."],
            "version": 1,
            "action_items": (
                [
                    {
                        "id": rng_uuid(rng),
                        "text": "Ten minutes every morning",
                        "done": False,
                        "created_at": created.isoformat(),
                        "done_at": None,
                    }
                ]
                if refined
                else []
            ),
            "created_at": created,
            "updated_at": created,
        }


PROMPT_HASH = hashlib.sha256(SYSTEM_PROMPT.encode()).hexdigest()[:16]


def turn_row(
    s: PlannedSession,
    users: Sequence[PlannedUser],
    seq: int,
    user_message_id: str,
    coach_message_id: str,
    coach_text: str,
    at: datetime,
) -> dict[str, Any]:
    before = PHASES[min(s.phase_index_at(seq), len(PHASES) - 1)]
    after = PHASES[min(s.phase_index_at(seq + 1), len(PHASES) - 1)]
    return {
        "session_id": s.id,
        "seq": seq,
        "user_id": users[s.user].id,
        "user_message_id": user_message_id,
        "coach_message_id": coach_message_id,
        "status": "ok",
        "state_before": before.value,
        "state_after": after.value,
        "requested_transition": after.value if after is not before else None,
        "transition_refused_reason": None,
        "prompt_name": f"phase/{before.value}",
        "prompt_version": "1",
        "prompt_hash": PROMPT_HASH,
        "system_prompt": SYSTEM_PROMPT,
        "model": "gpt-5.4-mini",
        "provider": "openai",
        "raw_output": json.dumps({"message": coach_text, "actions": []}),
        "actions": [],
        "input_tokens": 900 + 12 * min(seq, 40),
        "output_tokens": len(coach_text) // 4,
        "latency_ms": 850.0,
        "ttft_ms": 210.0,
        "error": None,
        "details": {},
        "created_at": at,
    }
