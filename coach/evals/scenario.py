"""Scenarios: a client to play, where to start, and what the coach must do.

A scenario is a YAML file in ``scenarios/`` (``load_scenario``) validated by ``Scenario``. A bad
file is refused whole, with every problem and the line it is on (``ScenarioError``); nothing is
run or stored for it. Assertions are judged on coaching events as the turn log stores them
(``coach.evals.checks``); an optional rubric is judged by a model and reported apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from coach.actions import ActionType
from coach.enums import CoachingState, IdentityCategory, IdentityState
from coach.errors import InputError
from coach.prompts.library import PromptPin

#: The most turns one conversation of a scenario may take.
MAX_TURNS = 60
#: Scenario files larger than this are refused unread.
MAX_SCENARIO_BYTES = 1_000_000
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Persona(_Strict):
    """A client for a model to play. It never sees the coach's prompt; only this."""

    name: str = Field(min_length=1)
    background: str = Field(min_length=1)
    goals: list[str] = Field(min_length=1)
    style: str = ""
    #: What the client pushes back on, or tries to skip.
    resists: str = ""


class ClientSpec(_Strict):
    """The client: a persona played by a model, or scripted lines sent in order."""

    persona: Persona | None = None
    lines: list[str] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ClientSpec:
        if (self.persona is None) == (self.lines is None):
            raise ValueError("give the client either a persona or scripted lines, not both")
        if self.lines is not None and not all(line.strip() for line in self.lines):
            raise ValueError("a scripted line is empty")
        return self

    @property
    def name(self) -> str | None:
        return None if self.persona is None else self.persona.name


class Fixture(_Strict):
    """Start from a stored session at a turn: a bundle file beside the scenario holds a copy,
    so deleting the session later breaks nothing."""

    #: The bundle file, relative to the scenario file.
    fixture: str = Field(min_length=1)
    #: The session in the bundle (needed when it holds more than one).
    session: str | None = None
    #: The conversation continues after this turn of that session (0: after the welcome).
    at_turn: int = Field(ge=0)


class PhaseReached(_Strict):
    """The conversation reaches ``phase`` (by its ``by_turn``-th turn, when given)."""

    check: Literal["phase_reached"]
    phase: CoachingState
    by_turn: int | None = Field(default=None, ge=1)

    def describe(self) -> str:
        by = f" by turn {self.by_turn}" if self.by_turn else ""
        return f"reaches {self.phase.value}{by}"


class RefusedTransitions(_Strict):
    """How many phase changes the coach asked for and the state machine refused."""

    check: Literal["refused_transitions"]
    at_most: int | None = Field(default=None, ge=0)
    at_least: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounded(self) -> RefusedTransitions:
        if self.at_most is None and self.at_least is None:
            raise ValueError("give at_most, at_least or both")
        return self

    def describe(self) -> str:
        return f"refused phase changes {_bounds(self.at_least, self.at_most)}"


class IdentitiesCreated(_Strict):
    """Identities the conversation created: how many, of which categories, in which states at
    its end."""

    check: Literal["identities_created"]
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)
    #: Every created identity is of one of these.
    categories: list[IdentityCategory] | None = None
    #: Every created identity ends in one of these.
    states: list[IdentityState] | None = None

    def describe(self) -> str:
        parts = [f"identities created {_bounds(self.min, self.max)}"]
        if self.categories:
            parts.append("in " + "/".join(c.value for c in self.categories))
        if self.states:
            parts.append("ending " + "/".join(s.value for s in self.states))
        return ", ".join(parts)


class ActionsUsed(_Strict):
    """Each of ``actions`` was applied at least once."""

    check: Literal["actions_used"]
    actions: list[ActionType] = Field(min_length=1)

    def describe(self) -> str:
        return "uses " + ", ".join(a.value for a in self.actions)


class ActionsNeverUsed(_Strict):
    """None of ``actions`` was even asked for."""

    check: Literal["actions_never_used"]
    actions: list[ActionType] = Field(min_length=1)

    def describe(self) -> str:
        return "never uses " + ", ".join(a.value for a in self.actions)


class ReplyRules(_Strict):
    """Every coach reply keeps to these."""

    check: Literal["replies"]
    max_chars: int | None = Field(default=None, ge=1)
    max_questions: int | None = Field(default=None, ge=0)

    def describe(self) -> str:
        rules = []
        if self.max_chars is not None:
            rules.append(f"at most {self.max_chars} characters")
        if self.max_questions is not None:
            rules.append(f"at most {self.max_questions} question(s)")
        return "replies: " + ", ".join(rules or ["any"])


class NoFailedTurn(_Strict):
    """No turn of the conversation failed."""

    check: Literal["no_failed_turn"]

    def describe(self) -> str:
        return "no failed turn"


Assertion = Annotated[
    PhaseReached
    | RefusedTransitions
    | IdentitiesCreated
    | ActionsUsed
    | ActionsNeverUsed
    | ReplyRules
    | NoFailedTurn,
    Field(discriminator="check"),
]


class Rubric(_Strict):
    """Criteria a model judges the transcript on, reported apart from the assertions."""

    criteria: list[str] = Field(min_length=1)
    #: The judge; ``""``: the coach's model.
    model: str = ""


class Scenario(_Strict):
    """One scenario: who the client is, where the conversation starts, and what must hold."""

    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    client: ClientSpec
    #: The client's first message.
    opening: str = Field(min_length=1)
    max_turns: int = Field(ge=1, le=MAX_TURNS)
    start: Fixture | None = None
    #: The prompt version set under test (``None``: the active versions).
    prompts: PromptPin | None = None
    #: The coach's model under test and the model playing the client (``""``: the engine's).
    model: str = ""
    client_model: str = ""
    assertions: list[Assertion] = Field(min_length=1)
    rubric: Rubric | None = None
    #: The file it was read from (its fixture is found beside it).
    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        return self._path

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        if not _NAME.match(self.name):
            raise _At(
                ("name",),
                f"{self.name!r}: use lower-case letters, digits, '-' and '_' "
                "(it names the scenario in reports and on the command line)",
            )
        for i, a in enumerate(self.assertions):
            if isinstance(a, PhaseReached) and a.by_turn and a.by_turn > self.max_turns:
                raise _At(
                    ("assertions", i, "by_turn"),
                    f"phase_reached by_turn {a.by_turn} is after max_turns {self.max_turns}; "
                    "lower by_turn or raise max_turns",
                )
        return self


class _At(ValueError):
    """A problem found across fields, with the path of the field it is about (for its line)."""

    def __init__(self, location: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.location = location


class ScenarioError(InputError):
    """A scenario file that cannot be used; ``problems`` says what is wrong and where."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


def _bounds(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def parse_scenario(text: str, *, path: Path | str = "<scenario>") -> Scenario:
    """The scenario in ``text`` (YAML), named after the file when it names itself not.

    Raises:
        ScenarioError: every problem found, each with its line.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ScenarioError(path, [f"{where}not valid YAML ({problem})"]) from e
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ScenarioError(
            path, ["line 1: a scenario is a mapping (name:, client:, opening:, ...), not " + kind]
        )
    if "name" not in data and path != "<scenario>":
        data["name"] = Path(path).stem
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(path, [_problem(node, err) for err in e.errors()]) from e


def load_scenario(path: Path | str) -> Scenario:
    """The scenario in the YAML file at ``path``, with its fixture checked.

    Raises:
        ScenarioError: the file is missing, too large, or not a valid scenario; its fixture
            is missing or does not hold the session and turn it names.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ScenarioError(path, [f"{size:,} bytes; the limit is {MAX_SCENARIO_BYTES:,}"])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(path, [f"cannot be read ({e})"]) from e
    scenario = parse_scenario(text, path=path)
    scenario._path = path
    if scenario.start is not None:
        from coach.evals.fixtures import check_fixture  # bundles are read only when needed

        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines = {key: _line_of(node, ("start", key)) for key in ("fixture", "session", "at_turn")}
        check_fixture(scenario, path, lines=lines)
    return scenario


def load_scenarios(
    directory: Path | str, names: list[str] | None = None
) -> tuple[list[Scenario], list[ScenarioError]]:
    """Every scenario in ``directory`` (``*.yaml``, ``*.yml``), or those named (by name or
    path), with the problems of those that cannot be used.

    Raises:
        ScenarioError: a named scenario does not exist.
    """
    directory = Path(directory)
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if names:
        chosen = []
        for name in names:
            as_path = Path(name)
            if as_path.suffix in (".yaml", ".yml") and as_path.exists():
                chosen.append(as_path)
                continue
            found = [f for f in files if f.stem == name]
            if not found:
                known = ", ".join(f.stem for f in files) or "none"
                raise ScenarioError(name, [f"no such scenario in {directory} (there: {known})"])
            chosen.extend(found)
        files = chosen
    scenarios: list[Scenario] = []
    problems: list[ScenarioError] = []
    for file in files:
        try:
            scenarios.append(load_scenario(file))
        except ScenarioError as e:
            problems.append(e)
    unique: dict[str, Scenario] = {}
    for s in scenarios:
        if s.name in unique:
            problems.append(_duplicate(s, unique[s.name]))
        else:
            unique[s.name] = s
    return list(unique.values()), problems


def _duplicate(scenario: Scenario, first: Scenario) -> ScenarioError:
    """The problem of a scenario named as one read before it, at its ``name:`` line."""
    path = scenario.path or scenario.name
    problem = f"name {scenario.name!r}: {first.path} has it already; give this one another name"
    if scenario.path is None:
        return ScenarioError(path, [problem])
    node = yaml.compose(scenario.path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    named = isinstance(node, yaml.MappingNode) and any(k.value == "name" for k, _ in node.value)
    if not named:  # named after its file
        problem += " (add a name: line; the file name gives it this one)"
    return ScenarioError(path, [f"line {_line_of(node, ('name',))}: {problem}"])


def _problem(node: yaml.Node | None, error: Any) -> str:
    located = (error.get("ctx") or {}).get("error")
    extra = located.location if isinstance(located, _At) else ()
    location = tuple(p for p in (*error["loc"], *extra) if not (isinstance(p, str) and "[" in p))
    # A discriminated union adds the tag (``phase_reached``) to the path: not a YAML key.
    keys = tuple(p for p in location if not _is_check_tag(p))
    line = _line_of(node, keys)
    where = ".".join(str(p) for p in keys) or "scenario"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "union_tag_invalid":
        message = f"unknown check {error['input'].get('check')!r}; use one of {_CHECKS}"
    elif error["type"] == "enum":
        message = f"{error['input']!r} is unknown; use one of {error['ctx']['expected']}"
    elif error["type"] == "extra_forbidden":
        message = "not a known field (check its spelling)"
    return f"line {line}: {where}: {message}" if line else f"{where}: {message}"


#: Every ``check:`` name, taken from the ``Assertion`` union (one list to keep).
CHECK_NAMES: tuple[str, ...] = tuple(
    get_args(kind.model_fields["check"].annotation)[0] for kind in get_args(get_args(Assertion)[0])
)
_CHECKS = ", ".join(CHECK_NAMES)


def _is_check_tag(part: object) -> bool:
    return isinstance(part, str) and part in CHECK_NAMES


def _line_of(node: yaml.Node | None, keys: tuple[object, ...]) -> int | None:
    """The line (from 1) of the deepest node on the path that exists."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key in keys:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == key:
                    child, line = v, k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
