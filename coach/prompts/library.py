"""The prompts a turn uses, read from the prompt store: the ``active`` versions, or the ones a
session is pinned to.

A pin (``PromptPin``) names a label for every part (``candidate``, say: parts without that label
keep their ``active`` version), a version per part, or both (the versions win). It is kept in
the session's context metadata under ``prompt_pin``, so it travels with the session's records.

Versions never change, so each is read from the database once per process; a version set is
built into a ``PromptManager`` once and reused while the labels point at it. Every turn reads
the labels (one query), so a version activated in one process is used by the next turn of
every process.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coach.persistence.base import DatabaseInterface
from coach.prompts.loader import PromptError, PromptFile, prompt_from_version
from coach.prompts.manager import PromptManager
from coach.prompts.store import ACTIVE, labels_by_part, load_prompt_files

#: The key of a session's pin in its context metadata, and of that metadata in the stored
#: context's ``user_data`` (``coach.context``).
PIN_KEY = "prompt_pin"
METADATA_KEY = "metadata"
#: How many version sets stay built (a few pins and the active set, in practice).
MANAGER_CACHE_SIZE = 16


class PromptPin(BaseModel):
    """The prompt versions a session uses instead of the active ones."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    label: str | None = None
    versions: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> PromptPin | None:
        """The pin stored in a context's metadata, or ``None``.

        Raises:
            PromptError: the stored pin is malformed.
        """
        raw = metadata.get(PIN_KEY)
        if raw is None:
            return None
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise PromptError(
                f"the session's prompt pin is malformed ({raw!r}): expected "
                "{'label': a label or null, 'versions': {part: number}}"
            ) from e

    @classmethod
    def parse(cls, label: str | None, versions: str) -> PromptPin | None:
        """A pin from a label (``None``: none) and ``part=number`` pairs separated by commas;
        ``None`` when both are empty (the active versions).

        Raises:
            PromptError: a pair is not ``part=number``.
        """
        chosen: dict[str, int] = {}
        for pair in filter(None, (p.strip() for p in versions.split(","))):
            part, _, number = pair.partition("=")
            if not (part.strip() and number.strip().isdigit()):
                raise PromptError(f"{pair!r} is not part=number (for example introduction=2)")
            chosen[part.strip()] = int(number)
        if label is None and not chosen:
            return None
        return cls(label=label, versions=chosen)

    def describe(self) -> str:
        parts = [f"label {self.label!r}"] if self.label else []
        parts += [f"{part}@{n}" for part, n in sorted(self.versions.items())]
        return ", ".join(parts) or "the active versions"


def describe_pin(user_data: Mapping[str, Any]) -> str:
    """Which prompt versions a session uses, from its stored context's ``user_data``: for the
    Coach page and the inspector. A malformed pin is described, not raised."""
    metadata = user_data.get(METADATA_KEY)
    try:
        pin = PromptPin.from_metadata(metadata if isinstance(metadata, dict) else {})
    except PromptError as e:
        return f"unusable pin: {e}"
    return "the active versions" if pin is None else f"pinned to {pin.describe()}"


class PromptLibrary:
    """Builds the ``PromptManager`` of the active versions, or of a pin.

    Args:
        db: the database holding the prompt store.
        directory: the prompt files loaded into a store that has no versions yet (the
            project's own when ``None``): a new in-memory database works at once.
    """

    def __init__(self, db: DatabaseInterface, directory: Path | None = None) -> None:
        self.db = db
        self.directory = directory
        self._files: dict[tuple[str, int], PromptFile] = {}
        self._managers: OrderedDict[tuple[tuple[str, int], ...], PromptManager] = OrderedDict()

    async def versions(self, pin: PromptPin | None = None) -> dict[str, int]:
        """The version of each part the pin (or ``active``) selects.

        Raises:
            PromptError: a part has no active version, or the pin names a version or a label
                that does not exist; the message says which.
        """
        labels = await self.db.list_prompt_labels()
        if not labels:
            await load_prompt_files(self.db, self.directory)
            labels = await self.db.list_prompt_labels()
        by_part = labels_by_part(labels)
        chosen: dict[str, int] = {}
        for part, named in sorted(by_part.items()):
            if pin is not None and pin.label is not None and pin.label in named:
                chosen[part] = named[pin.label]
            elif ACTIVE in named:
                chosen[part] = named[ACTIVE]
            else:
                raise PromptError(f"prompt part {part!r} has no active version; activate one")
        if pin is not None:
            if pin.label is not None and not any(pin.label in named for named in by_part.values()):
                raise PromptError(
                    f"no prompt part has the label {pin.label!r} the session is pinned to"
                )
            unknown = sorted(set(pin.versions) - set(by_part))
            if unknown:
                raise PromptError(
                    f"the session is pinned to unknown prompt part(s): {', '.join(unknown)}"
                )
            chosen.update(pin.versions)
        return chosen

    async def manager(self, pin: PromptPin | None = None) -> PromptManager:
        """The ``PromptManager`` of the versions the pin (or ``active``) selects.

        Raises:
            PromptError: as ``versions``, or a selected version is not a whole, valid set.
        """
        chosen = await self.versions(pin)
        key = tuple(sorted(chosen.items()))
        manager = self._managers.get(key)
        if manager is None:
            prompts = {part: await self._file(part, number) for part, number in key}
            manager = PromptManager(prompts, source="the prompt store")
            self._managers[key] = manager
            if len(self._managers) > MANAGER_CACHE_SIZE:
                self._managers.popitem(last=False)
        else:
            self._managers.move_to_end(key)
        return manager

    async def for_metadata(self, metadata: Mapping[str, Any]) -> PromptManager:
        """The manager of a session, from its context metadata (its pin, if any)."""
        return await self.manager(PromptPin.from_metadata(metadata))

    async def _file(self, part: str, number: int) -> PromptFile:
        found = self._files.get((part, number))
        if found is None:
            version = await self.db.get_prompt_version(part, number)
            if version is None:
                raise PromptError(f"prompt part {part!r} has no version {number}")
            found = prompt_from_version(version)
            self._files[(part, number)] = found
        return found
