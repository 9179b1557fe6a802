"""Prompt versions in the database: the prompt files loaded as defaults.

The Markdown files in ``coach/prompts/files`` are the defaults. ``load_prompt_files`` stores a
file whose content is new as a new version of its part, and never changes a stored version.
Two labels follow the files:

- ``default`` points at the version of the part's file as it was last loaded;
- ``active`` (what the coach uses) is set to it when the part has none yet, and moves with
  ``default`` when it pointed at the version a changed file replaces. A version a coach
  activated stays active whatever the files do; the summary says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from coach.errors import ConcurrencyError
from coach.persistence.base import DatabaseInterface
from coach.persistence.records import PromptLabel, PromptVersion
from coach.prompts.loader import DEFAULT_PROMPT_DIR, PromptFile, load_prompt_folder

ACTIVE = "active"
DEFAULT = "default"
#: The author of the versions loaded from the files, and the mover of their labels.
FILES_AUTHOR = "prompt files"
#: How often a part's labels are read again when another process moved them meanwhile.
_LABEL_ATTEMPTS = 3


def labels_by_part(labels: Iterable[PromptLabel]) -> dict[str, dict[str, int]]:
    """Part -> label -> version."""
    by_part: dict[str, dict[str, int]] = {}
    for x in labels:
        by_part.setdefault(x.part, {})[x.label] = x.version
    return by_part


async def move_label(
    db: DatabaseInterface, part: str, label: str, version: int, seen: PromptLabel | None, by: str
) -> PromptLabel:
    """Point ``label`` of ``part`` at ``version``, as the caller saw it (``seen``: ``None`` for
    a label not created yet); a move by someone else since is refused (``ConcurrencyError``)."""
    return await db.set_prompt_label(
        part, label, version, expected_revision=None if seen is None else seen.revision, by=by
    )


def version_of(prompt: PromptFile, *, author: str, note: str = "") -> PromptVersion:
    """``prompt`` as a new version of its part (numbered by the store)."""
    return PromptVersion(
        part=prompt.name,
        body=prompt.body,
        front_matter=prompt.front_matter(),
        author=author,
        note=note,
    )


@dataclass(frozen=True)
class LoadedPart:
    """What loading one file did."""

    part: str
    #: The version holding the file's content.
    version: int
    #: ``default`` moved to ``version``: the file is new or changed since the last load.
    changed: bool
    #: The version active after loading.
    active: int

    def describe(self) -> str:
        line = f"{self.part}: {'new version' if self.changed else 'version'} {self.version}"
        if self.active == self.version:
            return f"{line} (active)"
        return f"{line}; version {self.active} stays active (a coach activated it)"


async def load_prompt_files(
    db: DatabaseInterface, directory: Path | None = None
) -> list[LoadedPart]:
    """Store the prompt files of ``directory`` (the project's own when ``None``) as versions,
    and move their ``default`` and ``active`` labels (see the module docstring).

    Idempotent: loading unchanged files again stores nothing and moves no label.

    Raises:
        PromptError: a file is invalid (every problem is listed); nothing is stored.
    """
    prompts = load_prompt_folder(directory or DEFAULT_PROMPT_DIR)
    return [await _load(db, prompt) for _, prompt in sorted(prompts.items())]


async def _load(db: DatabaseInterface, prompt: PromptFile) -> LoadedPart:
    note = f"loaded from {prompt.name}.md (file version {prompt.version})"
    stored = await db.add_prompt_version(version_of(prompt, author=FILES_AUTHOR, note=note))
    number = stored.version or 0
    for _ in range(_LABEL_ATTEMPTS - 1):
        try:
            return await _follow(db, prompt.name, number)
        except ConcurrencyError:  # another process loading the files at once moved a label
            continue
    return await _follow(db, prompt.name, number)


async def _follow(db: DatabaseInterface, part: str, version: int) -> LoadedPart:
    labels = {x.label: x for x in await db.list_prompt_labels(part)}
    default, active = labels.get(DEFAULT), labels.get(ACTIVE)
    changed = default is None or default.version != version
    if changed:
        await move_label(db, part, DEFAULT, version, default, FILES_AUTHOR)
    # ``active`` follows the files until a coach activates another version.
    follows = active is None or (
        changed and default is not None and active.version == default.version
    )
    if follows:
        await move_label(db, part, ACTIVE, version, active, FILES_AUTHOR)
    return LoadedPart(
        part=part,
        version=version,
        changed=changed,
        active=version if follows or active is None else active.version,
    )
