"""What every part of the Slack stand-in shares: the params of a call, the records it keeps, and the
errors it answers with (as Slack does: `{"ok": false, "error": ...}`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

Params = dict[str, Any]
HttpReply = tuple[int, dict[str, str], bytes]
Method = Callable[[Params], dict[str, Any]]  # one Web API method: params in, answer out (or ApiError)


@dataclass(frozen=True)
class RecordedCall:
    method: str
    params: Params  # as parsed (JSON-string params decoded), without the token
    at: float  # time.monotonic() at arrival
    status: int  # HTTP status of the answer
    response: dict[str, Any]
    token: str | None = None
    headers: dict[str, str] | None = None  # of the answer, when it had any of its own (Retry-After)

    @property
    def retry_after(self) -> float | None:
        value = (self.headers or {}).get("Retry-After")
        return float(value) if value is not None else None

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return self.response.get("error")


@dataclass
class Channel:
    id: str
    name: str
    is_member: bool = True  # is the bot in it
    is_private: bool = False
    is_archived: bool = False  # nothing can be posted or shared: `is_archived`
    read_only: bool = False  # only some people post (an announcement channel): bots may not
    thread_only: bool = False  # top-level posts refused, replies in threads fine
    im_user: str | None = None  # a direct message channel (D...) with this user: the app's Messages tab

    @property
    def is_im(self) -> bool:
        return self.im_user is not None


@dataclass
class User:
    id: str
    name: str
    real_name: str = ""
    is_admin: bool = False
    is_bot: bool = False
    tz: str = "Asia/Tokyo"


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int  # as announced in files.getUploadURLExternal
    upload_key: str
    content: bytes | None = None  # what was POSTed to the upload URL
    title: str | None = None
    completed: bool = False
    channel_id: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None


@dataclass(frozen=True)
class ResponseUrlPost:
    url: str
    payload: dict[str, Any]
    at: float
    status: int = HTTPStatus.OK  # 404 `expired_url` once used up or too old


@dataclass
class ResponseUrl:
    """A response_url handed out: Slack takes at most `uses` posts to it, within its time to live."""

    issued_at: float
    uses: int = 0


@dataclass
class Trigger:
    id: str
    issued_at: float
    user_id: str | None
    used: bool = False


@dataclass
class RateLimit:
    remaining: int
    retry_after: int


class ApiError(Exception):
    """A Slack error answer: `{"ok": false, "error": ...}` plus extra fields."""

    def __init__(self, error: str, *, status: int = 200, headers: dict[str, str] | None = None, **fields: Any):
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.fields = fields

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, **self.fields}


def invalid_arguments(errors: list[str]) -> ApiError:
    return ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})


def missing_scope(needed: str, provided: list[str]) -> ApiError:
    return ApiError("missing_scope", needed=needed, provided=",".join(provided))


def ratelimited(retry_after: int) -> ApiError:
    return ApiError("ratelimited", status=HTTPStatus.TOO_MANY_REQUESTS, headers={"Retry-After": str(retry_after)})


def text_reply(status: int, text: str) -> HttpReply:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode("utf-8")
