"""Reads and writes of the prompt tables (``prompt_versions``, ``prompt_labels``).

Each function runs inside the one transaction the backend opened; the checks are the shared
rules (``coach.persistence.rules``), the same the memory backend makes.
"""

from __future__ import annotations

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from coach.errors import ConcurrencyError
from coach.persistence import rules
from coach.persistence.records import PromptLabel, PromptVersion
from coach.persistence.sql.statements import native_insert
from coach.persistence.sql.tables import prompt_labels, prompt_parts, prompt_versions

#: A version's columns as the record has them (without the stored content hash).
_VERSION_COLUMNS = tuple(c for c in prompt_versions.c if c.name in PromptVersion.model_fields)
_VERSIONS_AFTER = (
    select(*_VERSION_COLUMNS)
    .where(
        prompt_versions.c.part == bindparam("p_part"),
        prompt_versions.c.version > bindparam("p_after"),
    )
    .order_by(prompt_versions.c.version)
    .limit(bindparam("p_limit"))
)
_VERSION = select(*_VERSION_COLUMNS).where(
    prompt_versions.c.part == bindparam("p_part"),
    prompt_versions.c.version == bindparam("p_version"),
)
_SAME_CONTENT = select(*_VERSION_COLUMNS).where(
    prompt_versions.c.part == bindparam("p_part"),
    prompt_versions.c.content_hash == bindparam("p_hash"),
)
_LABEL = select(prompt_labels).where(
    prompt_labels.c.part == bindparam("p_part"), prompt_labels.c.label == bindparam("p_label")
)


def list_versions(conn: Connection, part: str, after: int, limit: int) -> list[PromptVersion]:
    rows = conn.execute(_VERSIONS_AFTER, {"p_part": part, "p_after": after, "p_limit": limit})
    return [PromptVersion.model_validate(dict(row)) for row in rows.mappings()]


def get_version(conn: Connection, part: str, version: int) -> PromptVersion | None:
    row = conn.execute(_VERSION, {"p_part": part, "p_version": version}).mappings().first()
    return None if row is None else PromptVersion.model_validate(dict(row))


def list_labels(conn: Connection, part: str | None) -> list[PromptLabel]:
    query = select(prompt_labels).order_by(prompt_labels.c.part, prompt_labels.c.label)
    if part is not None:
        query = query.where(prompt_labels.c.part == part)
    return [PromptLabel.model_validate(dict(row)) for row in conn.execute(query).mappings()]


def same_content(conn: Connection, version: PromptVersion) -> PromptVersion | None:
    """The part's stored version with the content of ``version``, if any."""
    found = conn.execute(_SAME_CONTENT, {"p_part": version.part, "p_hash": version.content_hash})
    row = found.mappings().first()
    return None if row is None else PromptVersion.model_validate(dict(row))


def add_version(conn: Connection, version: PromptVersion) -> PromptVersion:
    """Insert ``version`` numbered after the part's newest, or return the part's version with
    the same content."""
    content_hash = version.content_hash
    same = same_content(conn, version)
    if same is not None:
        return same
    # The upsert's row lock makes writers of one part number their versions one after another.
    bump = (
        native_insert(conn.dialect.name)(prompt_parts)
        .values(part=version.part, last_version=1)
        .on_conflict_do_update(
            index_elements=[prompt_parts.c.part],
            set_={"last_version": prompt_parts.c.last_version + 1},
        )
        .returning(prompt_parts.c.last_version)
    )
    stored = version.model_copy(update={"version": conn.execute(bump).scalar_one()})
    try:
        values = {**stored.model_dump(), "content_hash": content_hash}
        conn.execute(insert(prompt_versions).values(values))
    except IntegrityError as e:
        # The same content saved by another writer at once: the backend runs this again,
        # and then finds that version.
        raise ConcurrencyError(
            f"the same version of prompt part {version.part!r} was saved at the same time"
        ) from e
    return stored


def insert_versions(conn: Connection, versions: list[PromptVersion]) -> None:
    """Store versions under their own numbers (imported; the store lacks them), and keep each
    part's newest number at least as high."""
    for version in versions:
        number = version.version or 0
        values = {**version.model_dump(), "content_hash": version.content_hash}
        conn.execute(insert(prompt_versions).values(values))
        larger = func.max if conn.dialect.name == "sqlite" else func.greatest
        bump = (
            native_insert(conn.dialect.name)(prompt_parts)
            .values(part=version.part, last_version=number)
            .on_conflict_do_update(
                index_elements=[prompt_parts.c.part],
                set_={"last_version": larger(prompt_parts.c.last_version, number)},
            )
        )
        conn.execute(bump)


def set_label(
    conn: Connection,
    part: str,
    label: str,
    version: int,
    expected_revision: int | None,
    by: str,
) -> PromptLabel:
    current = get_label(conn, part, label)
    moved = rules.check_label_move(
        part,
        label,
        version,
        target=get_version(conn, part, version),
        current=current,
        expected_revision=expected_revision,
        by=by,
    )
    values = moved.model_dump()
    if current is None:
        try:
            conn.execute(insert(prompt_labels).values(values))
        except IntegrityError as e:
            raise ConcurrencyError(
                f"label {label!r} of prompt part {part!r} was created by someone else at the "
                "same time. Reload and decide again."
            ) from e
        return moved
    # Compare and set: a writer that moved the label since leaves no row to update.
    done = conn.execute(
        update(prompt_labels)
        .where(
            prompt_labels.c.part == part,
            prompt_labels.c.label == label,
            prompt_labels.c.revision == current.revision,
        )
        .values(values)
    )
    if done.rowcount != 1:
        raise rules.label_moved(part, label, get_label(conn, part, label))
    return moved


def get_label(conn: Connection, part: str, label: str) -> PromptLabel | None:
    row = conn.execute(_LABEL, {"p_part": part, "p_label": label}).mappings().first()
    return None if row is None else PromptLabel.model_validate(dict(row))
