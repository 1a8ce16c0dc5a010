"""The status endpoint against clients that are not the router: the token, half requests,
floods, oversized heads, other methods. A real StatusServer on a real socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from stacks.docker_adapter import Swarm
from stacks.status_page import MAX_CONNECTIONS, WORKERS, StatusApp, StatusServer
from stacks.store import StackRecord
from tests.support.raw_http import closed_by_peer, half_requests

TOKEN = "ab" * 32
HEADER = "X-Yadockeri-Router"


def record(name: str, state: str = "sleeping") -> StackRecord:
    now = datetime.now(UTC)
    return StackRecord(id=1, name=name, app="demo", branch="main", commit="c" * 40, image="img", owner="U1",
                       state=state, created_at=now, last_activity_at=now, last_request_at=None, requests=0,
                       asleep=state == "sleeping", keep_until=None, warned_at=None, middleware_hash=None, node=None,
                       thread=None)


class Recorder:
    def __init__(self) -> None:
        self.looked_up: list[str] = []
        self.woken: list[str] = []
        self.records = {"akira": record("akira")}

    def lookup(self, stack: str) -> StackRecord | None:
        self.looked_up.append(stack)
        return self.records.get(stack)

    def app(self, **kwargs: Any) -> StatusApp:
        return StatusApp(self.lookup, self.woken.append, router_token=TOKEN, **kwargs)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(recorder: Recorder) -> Iterator[StatusServer]:
    running = StatusServer(recorder.app(), host="127.0.0.1", port=0).start()
    yield running
    running.stop()


def url(server: StatusServer, stack: str = "akira") -> str:
    return f"http://127.0.0.1:{server.port}/_yadockeri/stack/{stack}"


def ask(server: StatusServer, stack: str = "akira", token: str | None = TOKEN,
        headers: dict[str, str] | None = None) -> requests.Response:
    sent = ({HEADER: token} if token is not None else {}) | (headers or {})
    return requests.get(url(server, stack), headers=sent, timeout=10)


def test_without_the_router_s_token_403_with_no_lookup_and_no_wake(server: StatusServer, recorder: Recorder) -> None:
    for token in (None, "", "wrong", TOKEN[:-1], TOKEN + "0", TOKEN.upper()):
        answer = ask(server, token=token)
        assert answer.status_code == 403 and answer.content == b"", token
    # a look-alike header name is not the header
    answer = requests.get(url(server), headers={"X_Yadockeri_Router": TOKEN}, timeout=10)
    assert answer.status_code == 403
    assert recorder.looked_up == [] and recorder.woken == []

    answer = ask(server)
    assert answer.status_code == 503 and answer.headers["X-Yadockeri-Page"] == "sleeping"
    assert recorder.looked_up == ["akira"] and recorder.woken == ["akira"]


def test_only_get_and_head_without_a_body(server: StatusServer, recorder: Recorder) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        answer = requests.request(method, url(server), headers={HEADER: TOKEN}, timeout=10)
        assert answer.status_code == 405 and answer.headers["Allow"] == "GET, HEAD", method
    answer = requests.get(url(server), headers={HEADER: TOKEN, "Content-Length": "5"}, data=b"hello", timeout=10)
    assert answer.status_code == 400
    head = requests.head(url(server), headers={HEADER: TOKEN}, timeout=10)
    assert head.status_code == 503 and head.content == b"" and int(head.headers["Content-Length"]) > 0
    assert recorder.looked_up == ["akira"]


def test_request_heads_are_bounded(server: StatusServer, recorder: Recorder) -> None:
    answer = ask(server, headers={"X-Filler": "x" * 10_000})
    assert answer.status_code == 431
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n")  # a request line alone over the limit
        assert sock.recv(100).startswith(b"HTTP/1.1 431 ")
    assert recorder.looked_up == []


def test_300_half_requests_are_dropped_while_the_router_is_answered(server: StatusServer,
                                                                    recorder: Recorder) -> None:
    threads_before = threading.active_count()
    with half_requests("127.0.0.1", server.port, 300) as socks:
        assert server.open_connections <= MAX_CONNECTIONS
        answered = ask(server)  # the router, in the middle of the flood
        assert answered.status_code == 503 and answered.headers["X-Yadockeri-Page"] == "sleeping"
        assert ask(server, token=None).status_code == 403
        assert threading.active_count() <= threads_before + WORKERS  # no thread per connection
        # every half request is closed: the oldest to make room, the rest when their time is up
        still_open = [s for s in socks if not closed_by_peer(s, timeout=20)]
        assert still_open == []
    assert server.open_connections == 0
    assert recorder.looked_up == ["akira"] and recorder.woken == ["akira"]


def test_a_head_sent_byte_by_byte_is_cut_off_at_its_deadline(recorder: Recorder) -> None:
    server = StatusServer(recorder.app(), host="127.0.0.1", port=0, request_seconds=1.0).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            head = f"GET /_yadockeri/stack/akira HTTP/1.1\r\n{HEADER}: {TOKEN}\r\n".encode() + b"X-Pad: " + b"a" * 200
            closed = False
            for byte in head:  # ~0.1 s a byte: the whole head would take 30 s
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    closed = True
                    break
                time.sleep(0.1)
            assert closed or closed_by_peer(sock, timeout=10)
        assert recorder.looked_up == []
    finally:
        server.stop()


def test_at_the_limit_the_oldest_half_request_makes_room_and_busy_ones_turn_newcomers_away(
        recorder: Recorder) -> None:
    release = threading.Event()

    def slow_lookup(stack: str) -> StackRecord | None:
        release.wait(30)
        return recorder.lookup(stack)

    server = StatusServer(StatusApp(slow_lookup, recorder.woken.append, router_token=TOKEN), host="127.0.0.1",
                          port=0, max_connections=4, workers=4).start()
    try:
        with half_requests("127.0.0.1", server.port, 4) as socks:
            # a complete request arrives at the limit: the oldest half request goes, it is answered
            result: list[requests.Response] = []
            worker = threading.Thread(target=lambda: result.append(ask(server, stack="toru")))
            worker.start()
            assert closed_by_peer(socks[0], timeout=10)
            assert not closed_by_peer(socks[1], timeout=0.2)
            release.set()
            worker.join(10)
            assert result and result[0].status_code == 404 and result[0].headers["X-Yadockeri-Page"] == "unknown-stack"
        release.clear()
        _wait(lambda: server.open_connections == 0)
        # every connection is being answered (none still sending): a newcomer is closed at once
        results: list[requests.Response] = []
        busy = [threading.Thread(target=lambda: results.append(ask(server))) for _ in range(4)]
        for thread in busy:
            thread.start()
        _wait(lambda: server.open_connections == 4)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as extra:
            assert closed_by_peer(extra, timeout=10)
        release.set()
        for thread in busy:
            thread.join(10)
        assert [r.status_code for r in results] == [503] * 4
    finally:
        release.set()
        server.stop()


def _wait(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.01)


# Where yadockeri serves it -------------------------------------------------------------------------
@pytest.mark.swarm
def test_the_scheduler_listens_where_the_router_connects_and_wants_the_router_s_token(tmp_path: Any) -> None:
    import docker

    from stacks.config import AppConfig, Settings
    from stacks.engine import Engine
    from stacks.router import router_token, status_upstream
    from stacks.scheduler import Scheduler
    from tests.conftest import free_port

    settings = Settings(data_dir=tmp_path / "data", status_port=free_port(), activity_tracking=False,
                        reaper_interval=3600, apps={"demo": AppConfig(repo=str(tmp_path), default=True)})
    gateway = status_upstream(Swarm(docker.from_env()), settings)
    assert gateway is not None
    engine = Engine(settings)
    engine.start()
    scheduler = Scheduler(engine).start()
    try:
        assert scheduler.status is not None
        assert f"{scheduler.status.host}:{scheduler.status.port}" == gateway  # not every address
        base = f"http://{gateway}/_yadockeri/stack/nobody"
        assert requests.get(base, timeout=10).status_code == 403
        answer = requests.get(base, headers={HEADER: router_token(settings)}, timeout=10)
        assert answer.status_code == 404 and answer.headers["X-Yadockeri-Page"] == "unknown-stack"
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{settings.status_port}/_yadockeri/stack/nobody", timeout=10)
    finally:
        scheduler.stop()
        engine.close()

    bound = settings.model_copy(update={"status_bind": "127.0.0.1", "status_port": free_port()})
    engine = Engine(bound)
    engine.start()
    scheduler = Scheduler(engine).start()
    try:
        assert scheduler.status is not None and scheduler.status.host == "127.0.0.1"
    finally:
        scheduler.stop()
        engine.close()


@pytest.mark.parametrize("state", ["deploying", "failed", "running", "sleeping", "destroying"])
def test_pages_anyone_can_ask_for_never_show_the_branch(state: str) -> None:
    # Anyone who knows a host name gets these pages: a branch name may say what is not released.
    from dataclasses import replace

    from stacks.status_page import page_for, render

    secret = replace(record("akira", state), branch="feature/acquire-competitor")
    page = page_for("akira", secret)
    for browser in (True, False):
        _, _, body = render(page, browser=browser)
        assert b"acquire-competitor" not in body and b"feature" not in body
