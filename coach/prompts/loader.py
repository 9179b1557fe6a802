"""The prompt file format, and loading and checking a folder of prompt files.

Each file in the prompt folder (``coach/prompts/files`` by default) is one prompt::

    ---
    name: identity_refinement        # the file's stem
    version: "1"                     # bump when the text changes meaningfully
    kind: phase                      # part | phase | message | task
    phase: identity_refinement       # phase files only: the CoachingState they serve
    allowed_actions: [set_affirmation, ...]   # phase files only
    description: One line for people reading the prompt lab.
    variables:                       # every placeholder in the text, with what to pass
      client_name: The client's name, or "not known yet".
    ---
    Text with {{ client_name }} placeholders.

Kinds: a ``part`` is joined into every system prompt (persona, response format); a ``phase``
file is the middle of its phase's system prompt; a ``message`` is shown to the client as is
(welcome, welcome back); a ``task`` is the system prompt of a side call (summarizer).

Everything about the files is checked when they are loaded, so a broken prompt fails at
start-up with every problem listed, not in the middle of a conversation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import JsonValue

from coach.actions.params import ALLOWED_ACTIONS, ActionType, allowed_in_order
from coach.enums import CoachingState
from coach.errors import CoachError
from coach.persistence.records import PromptVersion

#: Where the project's own prompt files live.
DEFAULT_PROMPT_DIR = Path(__file__).resolve().parent / "files"

#: Prompts the engine asks for by name; a prompt folder without one of them is refused.
REQUIRED_PROMPTS = ("persona", "response_format", "welcome", "welcome_back", "summarizer")

#: The model's action names (SPEC §2.3). A phase file may allow only these.
KNOWN_ACTIONS = frozenset(a.value for a in ActionType)

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*(?:\n|\Z)", re.DOTALL | re.MULTILINE)
_IDENTIFIER = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_FIELDS = frozenset(
    {"name", "version", "kind", "phase", "allowed_actions", "description", "variables"}
)

#: Builds the error for one file's problem (the file's path is in the message).
_Fail = Callable[[str], "PromptError"]


class PromptError(CoachError):
    """A prompt file is invalid, or a prompt was rendered without the variables it needs."""


class PromptKind(StrEnum):
    """What a prompt file is for (see the module docstring)."""

    PART = "part"
    PHASE = "phase"
    MESSAGE = "message"
    TASK = "task"


@dataclass(frozen=True, slots=True)
class PromptFile:
    """One loaded prompt file: its front matter and its unrendered text (``body``)."""

    name: str
    version: str
    kind: PromptKind
    body: str
    #: Where it came from, for messages: a file's path, or ``name@version`` of the store.
    origin: str
    variables: tuple[str, ...]
    variable_docs: Mapping[str, str] = field(hash=False)
    phase: CoachingState | None = None
    allowed_actions: tuple[str, ...] = ()
    description: str = ""

    @property
    def ref(self) -> str:
        """``name@version``, as it appears in a system prompt's version."""
        return f"{self.name}@{self.version}"

    def front_matter(self) -> dict[str, JsonValue]:
        """The front matter that says what the prompt is, as stored with a version (without
        ``name`` and ``version``: the part and the store's number)."""
        meta: dict[str, JsonValue] = {"kind": self.kind.value}
        if self.phase is not None:
            meta["phase"] = self.phase.value
            meta["allowed_actions"] = list(self.allowed_actions)
        meta["description"] = self.description
        meta["variables"] = dict(self.variable_docs)
        return meta


def unique(items: Iterable[str]) -> tuple[str, ...]:
    """``items`` without repeats, in first-seen order."""
    return tuple(dict.fromkeys(items))


# -- loading -------------------------------------------------------------------------------------


def load_prompt_folder(directory: Path) -> dict[str, PromptFile]:
    """Load and check every ``*.md`` file of ``directory``, keyed by prompt name.

    Raises:
        PromptError: the folder is missing, a file is invalid, a required prompt or a phase's
            file is missing, or a phase has two files. The message lists every problem.
    """
    if not directory.is_dir():
        raise PromptError(f"Prompt folder {directory} does not exist; pass an existing folder.")
    prompts: dict[str, PromptFile] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.md")):
        try:
            prompt = load_prompt_file(path)
        except PromptError as e:
            problems.append(str(e))
            continue
        prompts[prompt.name] = prompt
    problems.extend(_folder_problems(directory, prompts))
    if problems:
        raise PromptError(
            f"The prompts in {directory} are invalid:\n" + "\n".join(f"- {p}" for p in problems)
        )
    return prompts


def _folder_problems(directory: Path, prompts: Mapping[str, PromptFile]) -> list[str]:
    return set_problems(prompts, lambda name: str(directory / (name + ".md")))


def set_problems(prompts: Mapping[str, PromptFile], where: Callable[[str], str]) -> list[str]:
    """What keeps ``prompts`` from being a whole set: a required prompt or a phase's prompt
    missing, a required prompt made a phase, a phase with two prompts. ``where(name)`` names
    the place a missing prompt belongs."""
    problems = [
        f"{where(name)}: missing; the engine needs the prompt {name!r}"
        for name in REQUIRED_PROMPTS
        if name not in prompts
    ]
    for name in REQUIRED_PROMPTS:
        prompt = prompts.get(name)
        if prompt is not None and prompt.kind is PromptKind.PHASE:
            problems.append(f"{prompt.origin}: {name!r} must not be a phase file")
    by_phase: dict[CoachingState, list[PromptFile]] = {}
    for prompt in prompts.values():
        if prompt.phase is not None:
            by_phase.setdefault(prompt.phase, []).append(prompt)
    for state in CoachingState:
        files = by_phase.get(state, [])
        if not files:
            problems.append(
                f"{where(state.value)}: missing; the phase {state.value!r} "
                "needs a prompt file with `kind: phase` and `phase: " + state.value + "`"
            )
        elif len(files) > 1:
            names = ", ".join(f.origin for f in files)
            problems.append(f"phase {state.value!r} has several prompt files ({names}); keep one")
    return problems


def load_prompt_file(path: Path) -> PromptFile:
    """Parse and check one prompt file. Raises ``PromptError`` naming the file."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PromptError(f"{path}: cannot be read ({e})") from e
    return parse_prompt(source, origin=str(path), name=path.stem)


def parse_prompt(source: str, *, origin: str, name: str) -> PromptFile:
    """Parse and check a prompt written as a file: front matter between ``---`` lines, then
    the text. Raises ``PromptError`` naming ``origin``."""

    def fail(problem: str) -> PromptError:
        return PromptError(f"{origin}: {problem}")

    source = source.lstrip("\ufeff").replace("\r\n", "\n")
    match = _FRONT_MATTER.match(source)
    if match is None:
        raise fail("no front matter; start the file with a '---' line, the YAML, and '---'")
    try:
        meta: object = yaml.safe_load(match.group(1))
    except yaml.YAMLError as e:
        raise fail(f"front matter is not valid YAML: {e}") from e
    if not isinstance(meta, dict):
        raise fail("front matter must be a YAML mapping of fields")
    body = source[match.end() :].strip()
    return build_prompt(meta, body, origin=origin, name=name)


def prompt_source(prompt: PromptFile, *, named: bool = True) -> str:
    """``prompt`` written as a file (``parse_prompt`` reads it back); without ``name`` and
    ``version`` when not ``named`` (for diffs: what the version says, not what it is)."""
    names = {"name": prompt.name, "version": prompt.version} if named else {}
    meta = {**names, **prompt.front_matter()}
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{front}---\n{prompt.body}\n"


def build_prompt(meta: Mapping[Any, Any], body: str, *, origin: str, name: str) -> PromptFile:
    """Check a prompt's front matter and text, and make the ``PromptFile``.

    Args:
        origin: where it came from, named in every error.
        name: the name it must have (the file's name, or the stored part).

    Raises:
        PromptError: anything is wrong; the message names ``origin`` and says what to fix.
    """

    def fail(problem: str) -> PromptError:
        return PromptError(f"{origin}: {problem}")

    unknown = sorted(str(k) for k in meta if k not in _FIELDS)
    if unknown:
        raise fail(
            f"unknown front matter field(s) {', '.join(unknown)}; "
            f"the fields are: {', '.join(sorted(_FIELDS))}"
        )
    for required in ("name", "version", "kind", "variables"):
        if required not in meta:
            raise fail(f"front matter lacks {required!r}")

    if meta["name"] != name:
        raise fail(f"name {meta['name']!r} must be the file's name without '.md' ({name!r})")
    version = meta["version"]
    if isinstance(version, bool) or not isinstance(version, str | int) or str(version) == "":
        raise fail(f'version must be a non-empty string such as "1", got {version!r}')
    try:
        kind = PromptKind(meta["kind"])
    except ValueError:
        raise fail(
            f"unknown kind {meta['kind']!r}; use one of: {', '.join(k.value for k in PromptKind)}"
        ) from None
    description = meta.get("description", "")
    if not isinstance(description, str):
        raise fail("description must be text")

    phase: CoachingState | None = None
    allowed: tuple[str, ...] = ()
    if kind is PromptKind.PHASE:
        if "phase" not in meta or "allowed_actions" not in meta:
            raise fail("a phase file needs both 'phase' and 'allowed_actions' in its front matter")
        try:
            phase = CoachingState(meta["phase"])
        except ValueError:
            raise fail(
                f"unknown phase {meta['phase']!r}; use one of: "
                f"{', '.join(s.value for s in CoachingState)}"
            ) from None
        allowed = _allowed_actions(meta["allowed_actions"], fail)
        refused = [a for a in allowed if ActionType(a) not in ALLOWED_ACTIONS[phase]]
        if refused:
            raise fail(
                f"allowed_actions names action(s) the phase {phase.value!r} does not allow: "
                f"{', '.join(refused)}; allowed there: "
                f"{', '.join(a.value for a in allowed_in_order(phase))}"
            )
    elif "phase" in meta or "allowed_actions" in meta:
        raise fail("only a file with 'kind: phase' may have 'phase' or 'allowed_actions'")

    docs = _variable_docs(meta["variables"], fail)
    _check_placeholders(body, tuple(docs), fail)
    return PromptFile(
        name=name,
        version=str(version),
        kind=kind,
        body=body,
        origin=origin,
        variables=tuple(docs),
        variable_docs=MappingProxyType(docs),
        phase=phase,
        allowed_actions=allowed,
        description=description.strip(),
    )


def prompt_from_version(version: PromptVersion) -> PromptFile:
    """A stored version of a part as a ``PromptFile`` (its ``version`` is the store's number),
    checked as a file is.

    Raises:
        PromptError: the stored front matter or text is invalid, naming ``part@version``.
    """
    meta = {**version.front_matter, "name": version.part, "version": str(version.version)}
    return build_prompt(meta, version.body, origin=version.ref, name=version.part)


def _allowed_actions(value: object, fail: _Fail) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise fail("allowed_actions must be a list of action names")
    unknown = [a for a in value if a not in KNOWN_ACTIONS]
    if unknown:
        raise fail(
            f"unknown action(s) in allowed_actions: {', '.join(unknown)}; "
            f"the actions are: {', '.join(sorted(KNOWN_ACTIONS))}"
        )
    if len(set(value)) != len(value):
        raise fail("allowed_actions lists an action twice")
    return tuple(value)


def _variable_docs(value: object, fail: _Fail) -> dict[str, str]:
    """``variables`` as a mapping name -> description; a plain list of names is accepted too."""
    if value is None:
        value = {}
    if isinstance(value, list):
        value = {v: "" for v in value} if all(isinstance(v, str) for v in value) else None
    if not isinstance(value, dict):
        raise fail("variables must map each variable name to what it holds (or be {} for none)")
    docs: dict[str, str] = {}
    for name, doc in value.items():
        if not isinstance(name, str) or not _IDENTIFIER.match(name):
            raise fail(f"variable name {name!r} is not a valid name (letters, digits, '_')")
        if doc is not None and not isinstance(doc, str):
            raise fail(f"the description of variable {name!r} must be text")
        docs[name] = (doc or "").strip()
    return docs


def _check_placeholders(body: str, declared: tuple[str, ...], fail: _Fail) -> None:
    used = unique(m.group(1) for m in PLACEHOLDER.finditer(body))
    undeclared = [v for v in used if v not in declared]
    if undeclared:
        raise fail(
            f"the text uses undeclared variable(s) {', '.join(undeclared)}; "
            "add them under 'variables' in the front matter"
        )
    unused = [v for v in declared if v not in used]
    if unused:
        raise fail(
            f"variable(s) {', '.join(unused)} are declared but not used in the text; "
            "remove them from 'variables' or use them as {{ name }}"
        )
    starts = {m.start() for m in PLACEHOLDER.finditer(body)}
    for opening in re.finditer(r"\{\{", body):
        if opening.start() not in starts:
            line = body.count("\n", 0, opening.start()) + 1
            raise fail(
                f"malformed placeholder on line {line} of the text; write {{{{ name }}}} "
                "with a plain name (letters, digits, '_')"
            )
