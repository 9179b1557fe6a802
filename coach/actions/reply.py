"""Parsing a model reply tolerantly: ``CoachReply`` and ``RawAction``.

Nothing here fails on a reply that is valid JSON with a string ``message``: an unknown action
type, params of the wrong shape or a malformed entry is kept as a ``RawAction`` whose ``problem``
says what is wrong, and ``coach.actions.apply_actions`` rejects it with that reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coach.errors import LLMResponseError
from coach.persistence.records import JsonDict

MALFORMED = "(malformed)"

# --- parsing the reply --------------------------------------------------------------------------


def _json_kind(value: object) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return next((k for t, k in kinds.items() if isinstance(value, t)), type(value).__name__)


def _is_dumped(data: Mapping[str, Any]) -> bool:
    return (
        set(data) == {"type", "params", "problem"}
        and isinstance(data["type"], str)
        and isinstance(data["params"], dict)
        and isinstance(data["problem"], str | None)
    )


class RawAction(BaseModel):
    """One action as the model wrote it, not yet checked.

    Construction never fails on a JSON value: a malformed entry keeps what it can and says what is
    wrong in ``problem``, and ``apply_actions`` rejects it with that reason. The flat form
    ``{"type": ..., "label": ...}`` (params beside the type) is accepted too.
    """

    model_config = ConfigDict(frozen=True)

    type: str
    params: JsonDict = Field(default_factory=dict)
    problem: str | None = None

    @classmethod
    def malformed(cls, problem: str, *, kind: str = MALFORMED) -> RawAction:
        """An action that will be rejected with ``problem`` as the reason."""
        return cls.model_construct(type=kind, params={}, problem=problem)

    @model_validator(mode="before")
    @classmethod
    def _tolerate(cls, data: Any) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            got = _json_kind(data)
            malformed = f"malformed action: expected an object with type and params, got {got}"
            return {"type": MALFORMED, "params": {"value": data}, "problem": malformed}
        if _is_dumped(data):  # a RawAction's own model_dump (a round trip)
            return data
        raw_kind, problems = data.get("type"), []
        if not isinstance(raw_kind, str) or not raw_kind.strip():
            problems.append(f"the action type must be a non-empty string, got {raw_kind!r}")
        kind = ("" if raw_kind is None else str(raw_kind)).strip() or MALFORMED
        if "params" in data:
            params = {} if data["params"] is None else data["params"]
        else:
            params = {k: v for k, v in data.items() if k != "type"}
        if not isinstance(params, Mapping):
            problems.append(f"params must be an object, got {_json_kind(params)}")
            params = {"value": params}
        problem = ("malformed action: " + "; ".join(problems)) if problems else None
        return {"type": kind, "params": dict(params), "problem": problem}


class CoachReply(BaseModel):
    """A model reply: the message for the client and the actions to apply.

    ``actions`` may be missing or ``null`` (no actions); a single object is taken as a list of one.
    Unknown top-level keys are ignored. Only a missing or non-string ``message`` fails.
    """

    message: str
    actions: list[RawAction] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _tolerate(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        actions = data.get("actions")
        if actions is None:
            actions = []
        elif not isinstance(actions, list):
            actions = [actions]
        return {"message": data.get("message"), "actions": actions}


def parse_reply(data: Mapping[str, Any] | None) -> CoachReply:
    """The reply in a parsed JSON object; tolerant of everything but a missing ``message``.

    Raises:
        LLMResponseError: ``data`` is not an object, or has no string ``message``.
    """
    if not isinstance(data, Mapping):
        raise LLMResponseError("the model's reply is not a JSON object with a message")
    try:
        return CoachReply.model_validate(data)
    except ValidationError as e:
        raise LLMResponseError(
            f"the model's reply has no usable message ({describe_validation_error(e)})"
        ) from e


def describe_validation_error(error: ValidationError, *, fields: Iterable[str] = ()) -> str:
    """The problems of ``error`` on one line: ``field: what is wrong; ...``.

    ``fields`` (the model's field names) are named when an unknown field is refused.
    """
    known = ", ".join(fields)
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            message = "required"
        elif e["type"] == "extra_forbidden":
            message = f"unknown field (the params are: {known})" if known else "unknown field"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


__all__ = ["MALFORMED", "CoachReply", "RawAction", "describe_validation_error", "parse_reply"]
