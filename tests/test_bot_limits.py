"""The bot's HTTP port against clients that are not Slack: bodies bounded before they are read,
the signature checked before anything is parsed. A real waitress server, a real `yadockeri bot`."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from slack_bolt import BoltRequest, BoltResponse

from bot.server import MAX_BODY, BodyTooLarge, read_body
from stacks.engine import Engine
from tests.support.raw_http import post_huge, vm_kib
from tests.support.slack_requests import sign, signed_headers, slash_command_body
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import (
    SECRET,
    RunningBot,
    bot_process,
    wait_for,
)

FIFTY_MB = 50 * 1000 * 1000


@pytest.fixture
def dispatched(quiet_bot: RunningBot) -> list[Any]:
    """Every request that reached Bolt (its dispatch, which parses the body and runs listeners)."""
    seen: list[Any] = []
    dispatch = quiet_bot.app.dispatch

    def recording(request: BoltRequest) -> BoltResponse:
        seen.append(request)
        return dispatch(request)

    quiet_bot.app.dispatch = recording  # type: ignore[assignment]  # a recording wrapper replaces this app's dispatch
    return seen


def refused(status: str) -> bool:
    """413, or (a chunked body) a hard close once past the limit that lost the 413 (raw_http)."""
    return " 413 " in status or status == "reset"


def _post(bot: RunningBot, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(bot.url + "/slack/events", data=body, headers=headers, timeout=10)


def test_unsigned_or_badly_signed_requests_get_401_before_bolt_sees_them(quiet_bot: RunningBot,
                                                                          dispatched: list[Any]) -> None:
    body = slash_command_body("deploy akira main", trigger_id=quiet_bot.slack.new_trigger_id())
    challenge = json.dumps({"type": "url_verification", "challenge": "x", "token": "t"}).encode()
    other = sign(SECRET, b"another body")
    cases: dict[str, tuple[bytes, dict[str, str]]] = {
        "unsigned": (body, {"Content-Type": "application/x-www-form-urlencoded"}),
        "unsigned json": (challenge, {"Content-Type": "application/json"}),
        "wrong secret": (body, signed_headers("not-the-signing-secret", body)),
        "six minutes old": (body, signed_headers(SECRET, body, timestamp=int(time.time()) - 360)),
        "another body's signature": (body, {"Content-Type": "application/x-www-form-urlencoded", **other}),
        "timestamp not a number": (body, {**signed_headers(SECRET, body), "X-Slack-Request-Timestamp": "soon"}),
        "not UTF-8": (b"\xff\xfe" + body, {**signed_headers(SECRET, body)}),
        "signature without v0=": (body, {**signed_headers(SECRET, body),
                                         "X-Slack-Signature": signed_headers(SECRET, body)["X-Slack-Signature"][3:]}),
    }
    for what, (data, headers) in cases.items():
        answer = _post(quiet_bot, data, headers)
        assert answer.status_code == 401, what
    assert dispatched == []
    assert quiet_bot.engine_calls == [] and quiet_bot.slack.calls("chat.postMessage") == []

    answer, response_url = quiet_bot.command("list")  # signed as Slack signs: served
    assert answer.status_code == 200 and len(dispatched) == 1
    assert "No stacks yet" in quiet_bot.answers(response_url)[0]["text"]


def test_a_body_over_the_limit_gets_413_even_signed(quiet_bot: RunningBot, dispatched: list[Any]) -> None:
    too_big = b"text=" + b"a" * (MAX_BODY - 4)
    assert len(too_big) == MAX_BODY + 1
    assert _post(quiet_bot, too_big, signed_headers(SECRET, too_big)).status_code == 413
    assert quiet_bot.server is not None
    host, port = "127.0.0.1", quiet_bot.server.port
    status, sent = post_huge(host, port, "/slack/events", MAX_BODY * 4)
    assert " 413 " in status and sent == 0  # refused on its declared length, before any of it was sent
    status, sent = post_huge(host, port, "/slack/events", MAX_BODY * 4, chunked=True)
    assert refused(status), status
    just_fits = b"text=" + b"a" * (MAX_BODY - 5)
    answer = _post(quiet_bot, just_fits, signed_headers(SECRET, just_fits))
    assert answer.status_code not in (401, 413) and len(dispatched) == 1  # Bolt read it (and found no listener)


def test_a_chunked_signed_request_is_served(quiet_bot: RunningBot, dispatched: list[Any]) -> None:
    response_url = quiet_bot.slack.new_response_url()
    body = slash_command_body("list", response_url=response_url)
    answer = requests.post(quiet_bot.url + "/slack/events", data=iter([body[:10], body[10:]]),  # chunked
                           headers=signed_headers(SECRET, body), timeout=10)
    assert answer.status_code == 200 and len(dispatched) == 1
    assert "No stacks yet" in quiet_bot.answers(response_url)[0]["text"]


def test_read_body_reads_at_most_one_byte_past_the_limit() -> None:
    class Counting(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            assert size is not None and 0 < size <= 64 * 1024
            return super().read(size)

    stream = Counting(b"x" * 1000)
    with pytest.raises(BodyTooLarge):
        read_body({"wsgi.input": stream, "wsgi.input_terminated": True}, limit=100)
    assert stream.tell() == 101
    assert read_body({"wsgi.input": Counting(b"abc"), "wsgi.input_terminated": True}, limit=100) == b"abc"
    assert read_body({"wsgi.input": Counting(b"abc")}, limit=100) == b""  # no length, not terminated: no body
    with pytest.raises(BodyTooLarge):
        read_body({"wsgi.input": Counting(b""), "CONTENT_LENGTH": "101"}, limit=100)  # nothing read for that
    with pytest.raises(ValueError):
        read_body({"wsgi.input": Counting(b""), "CONTENT_LENGTH": "-1"}, limit=100)


# The real `yadockeri bot` process ---------------------------------------------------------------
@pytest.fixture
def bot_pid(quiet_engine: Engine, slack: SlackStandin, tmp_path: Any) -> Iterator[tuple[int, int]]:
    """(pid, port) of `yadockeri bot` in HTTP mode."""
    import signal

    from tests.conftest import env_for_cli, free_port

    port = free_port()
    env = env_for_cli(quiet_engine.settings, tmp_path)
    env.pop("SLACK_APP_TOKEN", None)
    env.update(SLACK_BOT_TOKEN=slack.bot_token, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.base_url,
               YADOCKERI_BOT_PORT=str(port), YADOCKERI_ACTIVITY_TRACKING="false")
    process = bot_process(env, port, capture=False)
    try:
        yield process.pid, port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def _signed_list(slack: SlackStandin, port: int) -> None:
    response_url = slack.new_response_url()
    body = slash_command_body("list", response_url=response_url)
    answer = requests.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=signed_headers(SECRET, body),
                           timeout=10)
    assert answer.status_code == 200
    wait_for(lambda: slack.responses(response_url), 10, "the list")


def test_unsigned_50_mb_bodies_are_refused_while_the_bot_s_memory_stays_put(bot_pid: tuple[int, int],
                                                                            slack: SlackStandin) -> None:
    pid, port = bot_pid
    _signed_list(slack, port)  # the paths of a served request are loaded and warm
    rss, peak = vm_kib(pid, "VmRSS"), vm_kib(pid, "VmHWM")

    statuses: list[tuple[bool, str]] = []

    def flood(chunked: bool) -> None:
        statuses.append((chunked, post_huge("127.0.0.1", port, "/slack/events", FIFTY_MB, chunked=chunked)[0]))

    threads = [threading.Thread(target=flood, args=(chunked,)) for chunked in (False, True, False)]
    for thread in threads:  # three at once, as in the report (2.58 GB then)
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(statuses) == 3, statuses
    assert all(" 413 " in status if not chunked else refused(status) for chunked, status in statuses), statuses

    grown, peak_grown = vm_kib(pid, "VmRSS") - rss, vm_kib(pid, "VmHWM") - peak
    assert grown < 8 * 1024 and peak_grown < 8 * 1024, (grown, peak_grown)  # KiB
    _signed_list(slack, port)  # and it still serves Slack
