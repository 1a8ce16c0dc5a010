"""Request bodies as Slack reads them. Bodies may be JSON (token only in the `Authorization: Bearer`
header, as Slack requires) or form-encoded / multipart (token in the header or a `token` field); only
write methods read JSON bodies. Parameters Slack takes as JSON strings in forms are decoded, so
recorded params look the same whichever encoding the client chose."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

from .base import ApiError, Params

JSON_ENCODED_PARAMS = ("blocks", "attachments", "view", "files", "metadata")


def parse_params(content_type: str | None, body: bytes, query: str, json_allowed: bool) -> tuple[Params, str | None]:
    """(params, token found in the body). JSON bodies never carry the token (Slack: use the header)."""
    params: Params = {k: v for k, v in _form_fields(query).items() if k != "token"}  # no tokens in URLs
    media_type = (content_type or "application/x-www-form-urlencoded").split(";")[0].strip().lower()
    if media_type == "application/json":
        if json_allowed:
            params.update(_json_object(body))
        return _decode_json_params(params), None
    if media_type == "multipart/form-data":
        fields = _multipart_fields(content_type or "", body)
    else:
        fields = _form_fields(body.decode("utf-8", "replace"))
    token = fields.pop("token", None)
    params.update(fields)
    return _decode_json_params(params), token if isinstance(token, str) else None


def bearer_token(authorization: str | None) -> str | None:
    if authorization and authorization.startswith("Bearer "):
        return authorization[len("Bearer "):].strip() or None
    return None


def _json_object(body: bytes) -> Params:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        raise ApiError("invalid_json") from None
    if not isinstance(parsed, dict):
        raise ApiError("invalid_json")
    return parsed


def _form_fields(encoded: str) -> Params:
    return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(encoded, keep_blank_values=True).items()}


def _multipart_fields(content_type: str, body: bytes) -> Params:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: Params = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)  # the part's bytes (None only for a nested multipart)
        data = payload if isinstance(payload, bytes) else b""
        fields[str(name)] = data if part.get_filename() else data.decode("utf-8", "replace")
    return fields


def _decode_json_params(params: Params) -> Params:
    for name in JSON_ENCODED_PARAMS:
        value = params.get(name)
        if isinstance(value, str):
            try:
                params[name] = json.loads(value)
            except ValueError:
                pass  # left as a string; the method answers with its own format error
    return params
