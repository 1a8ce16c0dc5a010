"""Request bodies checked against the endpoint's schema, with GitHub's messages: a missing required
field is `Invalid request.\\n\\n"ref" wasn't supplied.`, a value of the wrong type
`Invalid request.\\n\\nFor 'properties/auto_merge', "yes" is not a boolean.` (both 422)."""

from __future__ import annotations

import json
from typing import Any

from .base import ApiError

# Kinds of fields: "string", "boolean", "strings" (an array of strings), "object|string", and "?string" (null allowed).
Schema = dict[str, str]


def check_body(body: dict[str, Any], schema: Schema, required: tuple[str, ...] = ()) -> None:
    for name in required:
        if name not in body:
            raise _invalid(f'"{name}" wasn\'t supplied.')
    for name, kind in schema.items():
        if name in body:
            _check_value(name, body[name], kind)


def _check_value(name: str, value: Any, kind: str) -> None:
    where = f"For 'properties/{name}', {_ruby(value)}"
    if kind == "?string" and value is None:
        return
    if kind in ("string", "?string") and not isinstance(value, str):
        raise _invalid(f"{where} is not a string.")
    if kind == "boolean" and not isinstance(value, bool):
        raise _invalid(f"{where} is not a boolean.")
    if kind == "object|string" and not isinstance(value, dict | str):
        raise _invalid(f"{where} is not an object or a string.")
    if kind == "strings":
        if not isinstance(value, list):
            raise _invalid(f"{where} is not an array.")
        for item in value:
            if not isinstance(item, str):
                raise _invalid(f"For 'items', {_ruby(item)} is not a string.")


def _ruby(value: Any) -> str:
    """A value as GitHub quotes it in these messages (Ruby's inspect: nil for null)."""
    return "nil" if value is None else json.dumps(value)


def _invalid(detail: str) -> ApiError:
    return ApiError(422, f"Invalid request.\n\n{detail}")


def too_long(resource: str, name: str, value: str | None, maximum: int) -> ApiError | None:
    """GitHub's 422 for a string over its length limit, or None if it fits."""
    if value is None or len(value) <= maximum:
        return None
    return ApiError(422, "Validation Failed", errors=[{
        "resource": resource, "code": "custom", "field": name,
        "message": f"{name} is too long (maximum is {maximum} characters)"}])
