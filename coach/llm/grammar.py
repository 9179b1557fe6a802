"""Bounding a reply schema before llama.cpp turns it into a grammar.

A tiny model under a grammar tends to loop inside the open-ended parts of a schema — an array of
actions, a free-form ``params`` object, a string inside it — until the token limit cuts the reply
off, and the reply is lost. Bounding those parts keeps its replies complete; the top-level
strings (the ``message``) are left alone, so what the client reads is not shortened.
"""

from __future__ import annotations

from typing import Any

_FLAT_VALUE_TYPES = ("number", "boolean")


def bounded_schema(schema: dict[str, Any], *, max_items: int, max_string: int) -> dict[str, Any]:
    """A copy of a JSON schema with open-ended parts bounded, for a grammar-constrained tiny model.

    * an array without ``maxItems`` gets ``maxItems = max_items``;
    * a string below the top level without ``maxLength`` (or ``enum``/``const``) gets
      ``maxLength = max_string``;
    * an object with neither ``properties`` nor an ``additionalProperties`` schema (a free-form
      object such as an action's ``params``) becomes a flat map of short strings, numbers and
      booleans.

    Args:
        schema: The reply schema.
        max_items: Bound for arrays.
        max_string: Bound for nested strings.

    Returns:
        The bounded copy; ``schema`` is not changed.
    """

    def bound(node: Any, depth: int) -> Any:
        if isinstance(node, list):
            return [bound(item, depth) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("properties", "$defs", "definitions", "patternProperties"):
                out[key] = (
                    {name: bound(sub, depth + 1) for name, sub in value.items()}
                    if isinstance(value, dict)
                    else value
                )
            elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf", "prefixItems"):
                out[key] = bound(value, depth + 1)
            else:
                out[key] = value
        kinds = out.get("type")
        kinds = set(kinds) if isinstance(kinds, list) else {kinds}
        if "array" in kinds and "maxItems" not in out:
            out["maxItems"] = max_items
        if (
            "string" in kinds
            and depth > 1
            and not {"maxLength", "enum", "const", "format", "pattern"} & out.keys()
        ):
            out["maxLength"] = max_string
        if (
            "object" in kinds
            and "properties" not in out
            and out.get("additionalProperties", True) is True
        ):
            values = [{"type": "string", "maxLength": max_string}]
            values += [{"type": kind} for kind in _FLAT_VALUE_TYPES]
            out["additionalProperties"] = {"anyOf": values}
        return out

    result: dict[str, Any] = bound(schema, 0)
    return result
