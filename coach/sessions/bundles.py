"""Session bundles: a session, or a user with every session, as one versioned JSON document;
and the import that checks a whole bundle first, then writes everything or nothing.

A bundle holds its format and version and the records: users, sessions with their state,
every message, the turn log and where they came from, identities, and the prompt versions the
turns used (imported under their own numbers where the database lacks them; a number the
database holds with other content takes the next free number, as ids are new on import).
Never a secret: no record holds one.
``bundle.schema.json`` (next to this module) is the JSON Schema of the format; a test keeps it
equal to ``Bundle``.

Import reports every problem at once, each with its path (``records.sessions.0.turns.3...``);
an older format (the Coach page's session export, version 1) is upgraded first. By default the
records get new ids, so a bundle can be imported next to its original; with ``keep_ids`` they
keep theirs, if none is stored yet.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coach.config import MAX_BUNDLE_MB
from coach.errors import InputError
from coach.inspection.session import load_turn_outlines
from coach.inspection.timeline import prompt_refs
from coach.persistence import rules
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import (
    IdentityRecord,
    PromptVersion,
    RecordBatch,
    SessionRecords,
    SessionSummary,
    UTCDateTime,
    new_id,
    utcnow,
)
from coach.prompts.lab import all_versions
from coach.prompts.library import METADATA_KEY, PIN_KEY
from coach.sessions.listing import all_sessions

BUNDLE_FORMAT: Final = "identity-coach-bundle"
BUNDLE_VERSION: Final = 2
#: The Coach page's session export before bundles (one session), read and upgraded.
LEGACY_FORMAT = "identity-coach-session"
LEGACY_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("bundle.schema.json")
#: Ids this app makes (UUID4 text): replaced wherever they stand, also inside text.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SECTIONS = ("users", "sessions", "identities")


class Bundle(BaseModel):
    """One bundle (format version 2)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["identity-coach-bundle"] = BUNDLE_FORMAT
    format_version: Literal[2] = BUNDLE_VERSION
    exported_at: UTCDateTime = Field(default_factory=utcnow)
    #: The records, with the prompt versions the turns used (``part@n`` in each turn's
    #: ``prompt_version``).
    records: RecordBatch

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


class BundleError(InputError):
    """A bundle that cannot be imported; ``problems`` lists every reason, with its path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n".join(f"- {p}" for p in problems[:50])
        more = f"\n- … and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            f"the bundle cannot be imported ({len(problems)} problem"
            f"{'s' * (len(problems) != 1)}; nothing was written):\n{shown}{more}"
        )


def bundle_schema() -> dict[str, Any]:
    """The JSON Schema of the bundle format (what ``bundle.schema.json`` holds)."""
    schema = Bundle.model_json_schema()
    schema["$id"] = f"https://identity-coach.example/bundle-v{BUNDLE_VERSION}.schema.json"
    return schema


# -- export --------------------------------------------------------------------------------------


async def export_session(db: DatabaseInterface, session_id: str) -> Bundle:
    """The session, its user and the user's identities, as a bundle. Identities found in a
    session not in the bundle are exported without it (``session_id`` empty).

    Raises:
        InputError: no such session.
    """
    summary = await db.get_session(session_id)
    if summary is None:
        raise InputError(f"session {session_id} does not exist")
    return await _bundle(db, summary.user_id, [summary])


async def export_user(db: DatabaseInterface, user_id: str) -> Bundle:
    """The user with every session and identity, as a bundle.

    Raises:
        InputError: no such user.
    """
    if await db.get_user(user_id) is None:
        raise InputError(f"user {user_id} does not exist")
    summaries = await all_sessions(db, user_id=user_id)
    return await _bundle(db, user_id, sorted(summaries, key=lambda s: s.created_at))


async def _bundle(db: DatabaseInterface, user_id: str, summaries: list[SessionSummary]) -> Bundle:
    user = await db.get_user(user_id)
    sessions = [await session_records(db, s) for s in summaries]
    exported = {s.session_id for s in sessions}
    # In the order they were found (not by id: a copy's ids are new).
    identities = [
        i if i.session_id in exported or i.session_id is None else _unplaced(i)
        for i in sorted(await db.get_identities(user_id), key=lambda i: (i.created_at, i.label))
    ]
    return Bundle(
        records=RecordBatch(
            users=[] if user is None else [user],
            sessions=sessions,
            identities=identities,
            prompt_versions=await _prompt_versions(db, sessions),
        )
    )


def _unplaced(identity: IdentityRecord) -> IdentityRecord:
    return identity.model_copy(update={"session_id": None})


async def session_records(
    db: DatabaseInterface, summary: SessionSummary, *, up_to: int | None = None
) -> SessionRecords:
    """The whole session as stored (up to turn ``up_to``: the turns only)."""
    sid, uid = summary.session_id, summary.user_id
    turns = []
    for outline in await load_turn_outlines(db, sid, up_to=up_to):
        turn = await db.get_turn(sid, outline.seq or 0)
        assert turn is not None
        turns.append(turn)
    return SessionRecords(
        session_id=sid,
        user_id=uid,
        created_at=summary.created_at,
        last_activity_at=summary.last_activity_at,
        state=await db.get_state(uid, sid),
        context=await db.get_context(uid, sid, message_limit=None),
        turns=turns,
        origin=await db.get_session_origin(sid),
    )


async def _prompt_versions(
    db: DatabaseInterface, sessions: list[SessionRecords]
) -> list[PromptVersion]:
    refs = {
        (part, int(number))
        for s in sessions
        for t in s.turns
        for part, number in prompt_refs(t.prompt_version)
        if number.isdigit()
    }
    found = [await db.get_prompt_version(part, number) for part, number in sorted(refs)]
    return [v for v in found if v is not None]


# -- import --------------------------------------------------------------------------------------


def read_bundle(data: bytes | str, *, max_mb: int = MAX_BUNDLE_MB) -> Bundle:
    """Parse and check a whole bundle (upgrading an older format) of at most ``max_mb`` MB.

    Raises:
        BundleError: every problem found, each with its path.
    """
    check_size(len(data), max_mb)
    if not data.strip():
        raise BundleError(["the file is empty: export a session or a user to get a bundle"])
    try:
        document = json.loads(data)
    except json.JSONDecodeError as e:
        raise BundleError(
            [f"not JSON: {e.msg} at line {e.lineno}, column {e.colno} (is the file cut short?)"]
        ) from e
    except UnicodeDecodeError as e:
        raise BundleError([f"not UTF-8 text: {e.reason} at byte {e.start}"]) from e
    document = _upgraded(document)
    problems = _missing_sections(document)
    if problems:
        raise BundleError(problems)
    try:
        bundle = Bundle.model_validate(document)
    except ValidationError as e:
        raise BundleError([f"{_path(error['loc'])}: {error['msg']}" for error in e.errors()]) from e
    problems = [f"records.{p}" for p in rules.batch_problems(bundle.records)]
    if problems:
        raise BundleError(problems)
    return bundle


def _path(location: tuple[int | str, ...]) -> str:
    """``records.sessions[0].turns[3]``: a place in the document, as the problems name it."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location)[1:]


def check_size(size: int, max_mb: int) -> None:
    """Refuse a bundle of ``size`` bytes over ``max_mb`` MB (before it is read).

    Raises:
        BundleError: saying how to import it all the same.
    """
    if size > max_mb * 1_000_000:
        raise BundleError(
            [
                f"the bundle is {size / 1e6:,.1f} MB; at most {max_mb} MB can be imported. "
                "Raise COACH_MAX_BUNDLE_MB (an import holds about 5 times the file in memory), "
                "or export fewer sessions per bundle"
            ]
        )


def _upgraded(document: Any) -> Any:
    """A version 1 document (the Coach page's session export) as a version 2 bundle."""
    if not isinstance(document, dict) or document.get("format") != LEGACY_FORMAT:
        return document
    if document.get("version") != LEGACY_VERSION:
        return document  # refused below, naming the version
    session = document.get("session") or {}
    user, sid = document.get("user"), session.get("session_id")
    exported = {sid}
    identities = [
        {**i, "session_id": None}
        if isinstance(i, dict) and i.get("session_id") not in exported
        else i
        for i in document.get("identities") or []
    ]
    return {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "exported_at": document.get("exported_at"),
        "records": {
            "users": [user] if user else [],
            "sessions": [
                {
                    "session_id": sid,
                    "user_id": session.get("user_id"),
                    "created_at": session.get("created_at"),
                    "last_activity_at": session.get("last_activity_at"),
                    "state": document.get("state"),
                    "context": document.get("context"),
                    "turns": document.get("turns") or [],
                }
            ],
            "identities": identities,
        },
    }


def _missing_sections(document: Any) -> list[str]:
    if not isinstance(document, dict):
        return [f"the bundle is a JSON {type(document).__name__}, not an object"]
    if document.get("format") == LEGACY_FORMAT:  # not upgraded: another version
        return [
            f"version: {document.get('version')!r} of {LEGACY_FORMAT} is unknown; this app "
            f"reads version {LEGACY_VERSION}"
        ]
    if document.get("format") != BUNDLE_FORMAT:
        return [f"format: {document.get('format')!r} is not a bundle of this app ({BUNDLE_FORMAT})"]
    version = document.get("format_version")
    if version != BUNDLE_VERSION:
        return [
            f"format_version: {version!r} is unknown; this app reads versions "
            f"{LEGACY_VERSION} and {BUNDLE_VERSION} (a newer app may have written it)"
        ]
    records = document.get("records")
    if not isinstance(records, dict):
        return ["records: the section is missing"]
    return [f"records.{name}: the section is missing" for name in _SECTIONS if name not in records]


async def import_bundle(
    db: DatabaseInterface, bundle: Bundle, *, keep_ids: bool = False
) -> RecordBatch:
    """Write the bundle's records in one transaction: under new ids (the default; prompt
    versions then take this database's numbers, ``numbered_here``), or under their own ids and
    numbers when ``keep_ids`` and none is stored yet. Returns the records as stored.

    Raises:
        IdsTakenError: ``keep_ids`` and an id is stored already, or a prompt version's number
            is stored with other content; nothing was written.
    """
    batch = bundle.records if keep_ids else await numbered_here(db, with_new_ids(bundle.records))
    await db.import_records(batch)
    return batch


async def numbered_here(db: DatabaseInterface, batch: RecordBatch) -> RecordBatch:
    """The batch with its prompt versions numbered as this database numbers them, as ids are
    new on import: a version whose content the database holds takes that version's number, one
    whose number the database holds with other content takes the part's next free number (two
    databases whose coaches saved versions of their own). The turns, pins and replay origins
    that name a renumbered version name its new number."""
    numbers: dict[tuple[str, int], int] = {}
    for part in sorted({v.part for v in batch.prompt_versions}):
        stored = {v.content_hash: v.version or 0 for v in await all_versions(db, part)}
        taken = set(stored.values())
        clashes = []
        for version in sorted(
            (v for v in batch.prompt_versions if v.part == part), key=lambda v: v.version or 0
        ):
            number = version.version or 0
            twin = stored.get(version.content_hash)
            if twin is not None:
                numbers[(part, number)] = twin
            elif number in taken:
                clashes.append(number)
            else:
                taken.add(number)
        for number in clashes:
            numbers[(part, number)] = max(taken) + 1
            taken.add(numbers[(part, number)])
    moved = {key: new for key, new in numbers.items() if key[1] != new}
    return renumbered(batch, moved) if moved else batch


def moved_versions(bundle: Bundle, stored: RecordBatch) -> list[str]:
    """The bundle's prompt versions that were stored under another number, as
    ``part@n is part@m here`` (``stored``: what ``import_bundle`` returned)."""
    pairs = zip(bundle.records.prompt_versions, stored.prompt_versions, strict=True)
    return [f"{a.ref} is {b.ref} here" for a, b in pairs if a.version != b.version]


def renumbered(batch: RecordBatch, numbers: Mapping[tuple[str, int], int]) -> RecordBatch:
    """The batch with prompt version ``(part, n)`` numbered ``numbers[(part, n)]``: the
    versions themselves, the ``part@n`` of each turn, and the versions pinned by a session's
    context or its origin."""

    def number(part: str, n: int) -> int:
        return numbers.get((part, n), n)

    def refs(text: str) -> str:
        found = prompt_refs(text)
        if not found:
            return text  # names no version in the part@n form
        return "+".join(f"{part}@{number(part, int(n)) if n.isdigit() else n}" for part, n in found)

    def pin(raw: Any) -> Any:
        if not isinstance(raw, dict) or not isinstance(raw.get("versions"), dict):
            return raw
        versions = {
            part: number(part, n) if isinstance(n, int) else n
            for part, n in raw["versions"].items()
        }
        return {**raw, "versions": versions}

    sessions = []
    for session in batch.sessions:
        update: dict[str, Any] = {
            "turns": [
                t.model_copy(update={"prompt_version": refs(t.prompt_version)})
                for t in session.turns
            ]
        }
        context = session.context
        metadata = context.user_data.get(METADATA_KEY) if context else None
        if context is not None and isinstance(metadata, dict) and PIN_KEY in metadata:
            metadata = {**metadata, PIN_KEY: pin(metadata[PIN_KEY])}
            update["context"] = context.model_copy(
                update={"user_data": {**context.user_data, METADATA_KEY: metadata}}
            )
        if session.origin is not None and session.origin.pin is not None:
            update["origin"] = session.origin.model_copy(update={"pin": pin(session.origin.pin)})
        sessions.append(session.model_copy(update=update))
    versions = [
        v.model_copy(update={"version": number(v.part, v.version or 0)})
        for v in batch.prompt_versions
    ]
    return batch.model_copy(update={"sessions": sessions, "prompt_versions": versions})


def with_new_ids(batch: RecordBatch, *, keep: Collection[str] = ()) -> RecordBatch:
    """The records under new ids: every user, session, message and identity id (but those in
    ``keep``) is replaced wherever it stands (in references, turn logs, prompts and raw model
    output)."""
    kept = set(keep)
    ids = [i for kind in rules.batch_ids(batch).values() for i in kind if i not in kept]
    mapping = {old: new_id() for old in ids}

    def renamed(value: Any) -> Any:
        if isinstance(value, str):
            if value in mapping:
                return mapping[value]
            return _UUID.sub(lambda m: mapping.get(m.group(), m.group()), value)
        if isinstance(value, list):
            return [renamed(v) for v in value]
        if isinstance(value, dict):
            return {k: renamed(v) for k, v in value.items()}
        return value

    return RecordBatch.model_validate(renamed(batch.model_dump(mode="json")))
