"""The prompt lab's work on versions, for the Prompts page and the CLI alike: a version as a
file, checking an edit before it is saved, saving, diffing two versions, activating.

An edit is written as a prompt file (front matter, then the text) and checked as the files are,
and more: the text may not be empty, the part keeps its kind and phase (the set stays whole),
and every variable must be one the engine fills in for that kind of prompt. A refused edit
changes nothing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from coach.models import CoachContext
from coach.persistence.base import MAX_PAGE_SIZE, DatabaseInterface
from coach.persistence.records import PromptLabel, PromptVersion, TurnRecord
from coach.prompts.loader import (
    PromptError,
    PromptFile,
    PromptKind,
    parse_prompt,
    prompt_from_version,
    prompt_source,
)
from coach.prompts.manager import render_prompt
from coach.prompts.store import ACTIVE, DEFAULT, labels_by_part, version_of
from coach.prompts.variables import PROMPT_VARIABLES, variables_for

#: The kinds of prompt a turn's system prompt is made of (the others are not per turn).
SYSTEM_PROMPT_KINDS = frozenset({PromptKind.PART, PromptKind.PHASE})


def version_text(version: PromptVersion) -> str:
    """A stored version written as a prompt file: what ``show`` prints and the editor holds."""
    return prompt_source(prompt_from_version(version))


def comparable_lines(version: PromptVersion) -> list[str]:
    """A stored version as the lines two versions are compared by: the file without ``name``
    and ``version`` (what the version says, not what it is)."""
    return prompt_source(prompt_from_version(version), named=False).splitlines()


def engine_variables(prompt: PromptFile) -> frozenset[str]:
    """The variables the engine fills in for a prompt of this kind."""
    return frozenset(variables_for(prompt.kind, CoachContext(user_id="", session_id="")))


def check_edit(part: str, text: str, current: PromptVersion) -> PromptFile:
    """Check an edited version of ``part`` (written as a prompt file) against the part's
    ``current`` version.

    Raises:
        PromptError: the text is not a valid prompt, is empty, changes the part's kind or
            phase, or uses a variable the engine does not fill in; the message says what to fix.
    """
    origin = f"new version of {part!r}"
    edited = parse_prompt(text, origin=origin, name=part)
    if not edited.body.strip():
        raise PromptError(f"{origin}: the text is empty; write the prompt below the front matter")
    base = prompt_from_version(current)
    if (edited.kind, edited.phase) != (base.kind, base.phase):
        keeps = f"kind {base.kind.value!r}" + (
            f" and phase {base.phase.value!r}" if base.phase else ""
        )
        raise PromptError(f"{origin}: a version of {part!r} must keep {keeps}")
    known = engine_variables(edited)
    unknown = [v for v in edited.variables if v not in known]
    if unknown:
        raise PromptError(
            f"{origin}: unknown variable(s) {', '.join(unknown)}; the engine fills in "
            f"{', '.join(sorted(known))} for a {edited.kind.value} prompt"
        )
    return edited


def preview(
    part: str,
    text: str,
    current: PromptVersion,
    context: CoachContext,
    turn: TurnRecord | None = None,
) -> str:
    """An edit (checked as ``check_edit`` does) rendered with the variables the engine would
    fill in for ``context``: what the model, or the client for a message, would read. With a
    ``turn``, a system prompt part is filled as that turn's prompt was (its recorded variables).

    Raises:
        PromptError: the edit is refused, or ``turn`` recorded no variables (it is older than
            the prompt lab).
    """
    edited = check_edit(part, text, current)
    if turn is None or edited.kind not in SYSTEM_PROMPT_KINDS:
        return render_prompt(edited, variables_for(edited.kind, context))
    recorded = turn.details.get(PROMPT_VARIABLES)
    if not isinstance(recorded, dict):
        raise PromptError(
            f"turn {turn.seq} recorded no prompt variables (it is older than the prompt lab); "
            "preview at the latest turn instead"
        )
    return render_prompt(edited, {k: str(v) for k, v in recorded.items()})


@dataclass(frozen=True)
class PartRow:
    """One part in the lab's overview: its labels and how many versions it has."""

    part: str
    labels: dict[str, int]
    versions: int

    @property
    def active(self) -> int | None:
        return self.labels.get(ACTIVE)

    def others(self) -> str:
        """The labels other than ``active`` and ``default``, as ``name=version``."""
        return ", ".join(
            f"{k}={v}" for k, v in sorted(self.labels.items()) if k not in (ACTIVE, DEFAULT)
        )


async def overview(db: DatabaseInterface) -> list[PartRow]:
    """Every part that has a label, by name."""
    by_part = labels_by_part(await db.list_prompt_labels())
    return [
        PartRow(part, labels, len(await all_versions(db, part)))
        for part, labels in sorted(by_part.items())
    ]


async def all_versions(db: DatabaseInterface, part: str) -> list[PromptVersion]:
    """Every version of ``part``, oldest first (a page at a time)."""
    versions: list[PromptVersion] = []
    while True:
        page = await db.list_prompt_versions(part, after_version=len(versions), limit=MAX_PAGE_SIZE)
        versions += page
        if len(page) < MAX_PAGE_SIZE:
            return versions


@dataclass(frozen=True)
class Saved:
    """What saving an edit did: the version holding it, and whether it is new."""

    version: PromptVersion
    new: bool

    def describe(self) -> str:
        if self.new:
            return f"saved {self.version.ref}"
        return f"identical to {self.version.ref}; nothing saved"


async def save_edit(
    db: DatabaseInterface, part: str, text: str, *, author: str, note: str
) -> Saved:
    """Check an edit (``check_edit``) against the active version and save it as a version.

    Raises:
        PromptError: the edit is refused (see ``check_edit``), or the part does not exist.
    """
    edited = check_edit(part, text, await find_version(db, part))
    draft = version_of(edited, author=author, note=note)
    stored = await db.add_prompt_version(draft)
    # The same content saved before comes back as that version, with its own time and note.
    return Saved(stored, new=stored == draft.model_copy(update={"version": stored.version}))


async def find_version(
    db: DatabaseInterface, part: str, *, number: int | None = None, label: str = ACTIVE
) -> PromptVersion:
    """Version ``number`` of ``part``, or (without a number) the one ``label`` points at.

    Raises:
        PromptError: the part has no such version or label.
    """
    if number is None:
        found = await label_of(db, part, label)
        if found is None:
            missing = "no active version" if label == ACTIVE else f"no label {label!r}"
            raise PromptError(f"prompt part {part!r} has {missing} (python -m coach prompts list)")
        number = found.version
    version = await db.get_prompt_version(part, number)
    if version is None:
        raise PromptError(f"prompt part {part!r} has no version {number}")
    return version


async def label_of(db: DatabaseInterface, part: str, label: str) -> PromptLabel | None:
    return next((x for x in await db.list_prompt_labels(part) if x.label == label), None)


def diff(a: PromptVersion, b: PromptVersion) -> list[str]:
    """The unified diff of two versions written as files (front matter included)."""
    return list(
        difflib.unified_diff(
            comparable_lines(a),
            comparable_lines(b),
            fromfile=a.ref,
            tofile=b.ref,
            lineterm="",
        )
    )
