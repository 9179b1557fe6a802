"""Rendering prompts: ``PromptManager`` and what it returns.

The prompt files and their format are described in ``coach.prompts.loader``.

Templating is deliberately tiny: ``{{ name }}`` is replaced by the value, in one pass, and nothing
else in the text is special. Literal braces (JSON examples) survive, and a value containing
``{{ x }}`` is inserted as it is, never rendered again. A missing variable is an error; a
variable passed but not used by the prompt is ignored, because the engine builds one set of
variables for every phase and a prompt edited in the lab may use fewer of them (a misspelt name
still fails, as the variable the prompt needs is then missing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from coach.enums import CoachingState
from coach.prompts.loader import (
    DEFAULT_PROMPT_DIR,
    PLACEHOLDER,
    PromptError,
    PromptFile,
    load_prompt_folder,
    set_problems,
    unique,
)

#: The parts every system prompt is made of, around the phase file, in order. The parts shared
#: by every phase come first, so all phases' prompts begin with the same text: a local model
#: (llama.cpp) reuses what it computed for a common beginning, and a first turn in a new phase
#: then only reads the phase's own part. Each phase file ends with what changes between turns
#: (what the coach knows of the client), for the same reason.
SYSTEM_PROMPT_PREFIX = ("persona", "response_format")
SYSTEM_PROMPT_SUFFIX: tuple[str, ...] = ()

_PART_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """A prompt ready to send, and what it was made from (recorded on every turn).

    ``version`` is the file's version for a single file, and ``name@version`` of every part
    joined with ``+`` for a system prompt. ``content_hash`` is the SHA-256 of ``text`` (hex), so
    two turns with the same hash saw exactly the same prompt.
    """

    name: str
    version: str
    text: str
    content_hash: str
    allowed_actions: tuple[str, ...]
    parts: tuple[str, ...]
    phase: CoachingState | None = None

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of ``content_hash``, for display."""
        return self.content_hash[:12]


class PromptManager:
    """Checks a whole set of prompts, and renders them.

    Args:
        prompts: every prompt of the set by name: the files of a folder (``from_folder``), or
            versions from the prompt store (``coach.prompts.library``).
        source: where the set came from, for messages (a folder, or "the prompt store").

    Raises:
        PromptError: the set lacks a prompt the engine needs, or a phase has none or two;
            the message lists every problem.
    """

    def __init__(self, prompts: Mapping[str, PromptFile], *, source: str) -> None:
        problems = set_problems(prompts, lambda name: f"{source}: {name}")
        if problems:
            raise PromptError(
                f"The prompts of {source} are not a whole set:\n"
                + "\n".join(f"- {p}" for p in problems)
            )
        self.source = source
        self._prompts = dict(prompts)
        self._by_phase = {p.phase: p for p in self._prompts.values() if p.phase is not None}

    @classmethod
    def from_folder(cls, directory: Path | str | None = None) -> PromptManager:
        """The prompt files of ``directory``, or the project's own prompts when ``None``.

        Raises:
            PromptError: the folder is missing, or any file in it is invalid; the message lists
                every problem with the file it is in.
        """
        folder = Path(directory) if directory is not None else DEFAULT_PROMPT_DIR
        return cls(load_prompt_folder(folder), source=str(folder))

    # -- looking up ----------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The names of every loaded prompt, sorted."""
        return tuple(sorted(self._prompts))

    def get(self, name: str) -> PromptFile:
        """The prompt file called ``name``.

        Raises:
            PromptError: there is no such prompt.
        """
        try:
            return self._prompts[name]
        except KeyError:
            raise PromptError(
                f"No prompt named {name!r} in {self.source}; "
                f"the prompts are: {', '.join(self.names)}"
            ) from None

    def phase_prompt(self, state: CoachingState) -> PromptFile:
        """The phase file of ``state`` (every phase has one; checked at load).

        Raises:
            PromptError: ``state`` is not a phase.
        """
        try:
            return self._by_phase[CoachingState(state)]
        except ValueError:
            raise PromptError(
                f"Unknown phase {state!r}; the phases are: "
                f"{', '.join(s.value for s in CoachingState)}"
            ) from None

    def allowed_actions(self, state: CoachingState) -> tuple[str, ...]:
        """The actions the model may use in ``state``, from its phase file's front matter."""
        return self.phase_prompt(state).allowed_actions

    def required_variables(self, name: str) -> tuple[str, ...]:
        """The variables ``render(name, ...)`` needs, in the order the front matter lists them."""
        return self.get(name).variables

    def system_prompt_parts(self, state: CoachingState) -> tuple[PromptFile, ...]:
        """The files joined into the system prompt of ``state``, in order."""
        return (
            *(self.get(n) for n in SYSTEM_PROMPT_PREFIX),
            self.phase_prompt(state),
            *(self.get(n) for n in SYSTEM_PROMPT_SUFFIX),
        )

    def system_prompt_variables(self, state: CoachingState) -> tuple[str, ...]:
        """The variables ``system_prompt(state, ...)`` needs (those of all its parts)."""
        return unique(v for part in self.system_prompt_parts(state) for v in part.variables)

    def shared_system_prefix(self) -> str:
        """The text every phase's system prompt begins with: the shared parts, up to the first
        one that needs variables (a model client can compute it ahead, see ``LocalLLMClient``).
        """
        shared: list[str] = []
        for name in SYSTEM_PROMPT_PREFIX:
            part = self.get(name)
            if part.variables:
                break
            shared.append(part.body + _PART_SEPARATOR)
        return "".join(shared)

    # -- rendering -----------------------------------------------------------------------------

    def render(self, name: str, variables: Mapping[str, str]) -> RenderedPrompt:
        """Render one prompt file (``welcome``, ``welcome_back``, ``summarizer``, ...).

        Variables the prompt does not use are ignored.

        Raises:
            PromptError: there is no such prompt, or a variable it needs is missing or not text.
        """
        prompt = self.get(name)
        text = render_prompt(prompt, variables)
        return RenderedPrompt(
            name=prompt.name,
            version=prompt.version,
            text=text,
            content_hash=_sha256(text),
            allowed_actions=prompt.allowed_actions,
            parts=(prompt.name,),
            phase=prompt.phase,
        )

    def system_prompt(self, state: CoachingState, variables: Mapping[str, str]) -> RenderedPrompt:
        """The system prompt of a phase: persona, the response format, then the phase file.

        Its ``name`` is the phase's, its ``version`` names every part
        (``persona@1+response_format@2+identity_brainstorming@2``).

        Raises:
            PromptError: a variable of any part is missing or not text.
        """
        parts = self.system_prompt_parts(state)
        phase_file = parts[len(SYSTEM_PROMPT_PREFIX)]
        label = f"System prompt {phase_file.name!r} ({' + '.join(p.name for p in parts)})"
        values = _checked_values(label, self.system_prompt_variables(state), variables)
        text = _PART_SEPARATOR.join(_substitute(p.body, values) for p in parts)
        return RenderedPrompt(
            name=phase_file.name,
            version="+".join(p.ref for p in parts),
            text=text,
            content_hash=_sha256(text),
            allowed_actions=phase_file.allowed_actions,
            parts=tuple(p.name for p in parts),
            phase=phase_file.phase,
        )


def create_prompt_manager(directory: Path | str | None = None) -> PromptManager:
    """A ``PromptManager`` over ``directory``, or over the project's own prompts when ``None``."""
    return PromptManager.from_folder(directory)


# -- rendering helpers ---------------------------------------------------------------------------


def render_prompt(prompt: PromptFile, variables: Mapping[str, str]) -> str:
    """The text of one prompt with its variables filled in (unused ones are ignored).

    Raises:
        PromptError: a variable it needs is missing or not text.
    """
    values = _checked_values(f"Prompt {prompt.name!r}", prompt.variables, variables)
    return _substitute(prompt.body, values)


def _checked_values(
    label: str, required: tuple[str, ...], variables: Mapping[str, str]
) -> dict[str, str]:
    missing = [name for name in required if name not in variables]
    if missing:
        raise PromptError(
            f"{label} is missing variable(s): {', '.join(missing)}. "
            f"Pass every one of: {', '.join(required) or '(none)'}."
        )
    values: dict[str, str] = {}
    for name in required:
        value: object = variables[name]
        if not isinstance(value, str):
            raise PromptError(
                f"{label}: variable {name!r} must be text, got {type(value).__name__}; "
                "convert it with str() before rendering."
            )
        values[name] = value
    return values


def _substitute(body: str, values: Mapping[str, str]) -> str:
    # One pass over the template: a value is never scanned again, so braces in it stay literal.
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], body)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
