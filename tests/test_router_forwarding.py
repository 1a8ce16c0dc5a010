"""What the router tells an app about a request, and what it takes from the client, served by
this machine's real nginx (no Docker): the routed host instead of the client's Host header,
X-Forwarded-* only from configured proxies, the answering address only for yadockeri's own
checks, and the status endpoint's failures shown as the router's page, never as the stack's."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from stacks.router import render_nginx_conf
from tests.support.host_nginx import DnsServer, serve

TOKEN = "ab" * 32


class _Recorder(ThreadingHTTPServer):
    """An HTTP server that records each request's headers and answers with `status`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, str]] = []
        self.status = 200
        self.extra_headers: dict[str, str] = {}
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    server: _Recorder

    def do_GET(self) -> None:
        headers = {key.lower(): value for key, value in self.headers.items()}
        self.server.seen.append({"path": self.path, **headers})
        body = json.dumps(headers).encode()
        self.send_response(self.server.status)
        for key, value in self.server.extra_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def app() -> Iterator[_Recorder]:
    server = _Recorder()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def status_endpoint() -> Iterator[_Recorder]:
    server = _Recorder()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    server = DnsServer({"akira.yadockeri-web"})
    yield server
    server.close()


def _router(tmp_path_factory: pytest.TempPathFactory, app: _Recorder, status: _Recorder, dns: DnsServer,
            trusted_proxies: list[str] | None = None) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("router")
    conf = render_nginx_conf(["y.localhost"], web_port=app.port, status_upstream=f"127.0.0.1:{status.port}",
                             router_token=TOKEN, public_port=8080, trusted_proxies=trusted_proxies)
    with serve(conf, folder, dns) as port:
        yield port


@pytest.fixture(scope="module")
def router(tmp_path_factory, app, status_endpoint, dns) -> Iterator[int]:
    yield from _router(tmp_path_factory, app, status_endpoint, dns)


@pytest.fixture(scope="module")
def proxied_router(tmp_path_factory, app, status_endpoint, dns) -> Iterator[int]:
    yield from _router(tmp_path_factory, app, status_endpoint, dns, trusted_proxies=["127.0.0.0/8"])


def _get(port: int, host: str, **headers: str) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{port}/", headers={"Host": host, **headers}, timeout=10)


def _app_saw(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 200, (response.status_code, response.headers, response.text[:200])
    return response.json()


def test_the_app_gets_the_routed_host_not_the_clients_host_header(router: int) -> None:
    for host in ("akira.y.localhost", "AKIRA.Y.Localhost.:9999", "akira.y.localhost:1"):
        seen = _app_saw(_get(router, host))
        assert seen["host"] == "akira.y.localhost:8080"  # the name routed on, with the public port
        assert seen["x-forwarded-host"] == "akira.y.localhost:8080"
    assert _app_saw(_get(router, "api.akira.y.localhost"))["host"] == "api.akira.y.localhost:8080"


def test_forwarded_headers_of_a_client_are_not_believed(router: int) -> None:
    seen = _app_saw(_get(router, "akira.y.localhost", **{
        "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443",
        "X-Forwarded-Host": "evil.example", "Forwarded": "for=203.0.113.9;proto=https;host=evil.example",
    }))
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-real-ip"] == "127.0.0.1"
    assert (seen["x-forwarded-proto"], seen["x-forwarded-port"]) == ("http", "8080")
    assert seen["x-forwarded-host"] == "akira.y.localhost:8080"
    assert "forwarded" not in seen


def test_a_configured_proxy_is_believed(proxied_router: int) -> None:
    seen = _app_saw(_get(proxied_router, "akira.y.localhost", **{
        "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443",
    }))
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"  # the chain, then the proxy itself
    assert seen["x-real-ip"] == "203.0.113.9"
    assert (seen["x-forwarded-proto"], seen["x-forwarded-port"]) == ("https", "443")
    # Still the routed host: a proxy in front does not choose where requests go.
    assert seen["host"] == "akira.y.localhost:8080"


def test_only_yadockeris_check_learns_which_address_answered(router: int, app: _Recorder) -> None:
    checked = _get(router, "akira.y.localhost", **{"X-Yadockeri-Check": TOKEN})
    assert checked.headers["X-Yadockeri-Upstream"] == f"127.0.0.1:{app.port}"
    assert "x-yadockeri-check" not in _app_saw(checked)  # the token never reaches the app
    for headers in ({}, {"X-Yadockeri-Check": "cd" * 32}, {"X-Yadockeri-Check": TOKEN[:-1]}):
        assert "X-Yadockeri-Upstream" not in _get(router, "akira.y.localhost", **headers).headers


def test_an_app_cannot_claim_to_be_the_router_or_another_task(router: int, app: _Recorder) -> None:
    app.extra_headers = {"X-Yadockeri-Upstream": "10.0.0.99:8080", "X-Yadockeri-Page": "sleeping"}
    try:
        response = _get(router, "akira.y.localhost", **{"X-Yadockeri-Check": TOKEN})
    finally:
        app.extra_headers = {}
    assert response.headers["X-Yadockeri-Upstream"] == f"127.0.0.1:{app.port}"
    assert "X-Yadockeri-Page" not in response.headers


def test_the_router_proves_itself_to_the_status_endpoint(router: int, status_endpoint: _Recorder) -> None:
    status_endpoint.status, status_endpoint.extra_headers = 503, {"X-Yadockeri-Page": "sleeping"}
    before = len(status_endpoint.seen)
    response = _get(router, "toru.y.localhost", Cookie="session=secret", Authorization="Bearer x")
    assert (response.status_code, response.headers["X-Yadockeri-Page"]) == (503, "sleeping")
    asked = status_endpoint.seen[before:]
    assert [a["path"] for a in asked] == ["/_yadockeri/stack/toru"]
    assert asked[0]["x-yadockeri-router"] == TOKEN
    assert "cookie" not in asked[0] and "authorization" not in asked[0]


@pytest.mark.parametrize("status", [500, 403, 400, 501])
def test_a_failing_status_endpoint_is_never_the_stacks_answer(router: int, status_endpoint: _Recorder,
                                                              status: int) -> None:
    # "database is locked" in yadockeri must not look like the stack answering (a deploy
    # waiting for its web process would take it for ready).
    status_endpoint.status, status_endpoint.extra_headers = status, {}
    response = _get(router, "toru.y.localhost")
    assert response.status_code == 503
    assert response.headers["X-Yadockeri-Page"] == "status-error"
    assert "toru is not answering" in response.text


def test_an_unknown_stack_page_of_the_status_endpoint_passes(router: int, status_endpoint: _Recorder) -> None:
    status_endpoint.status, status_endpoint.extra_headers = 404, {"X-Yadockeri-Page": "unknown-stack"}
    response = _get(router, "toru.y.localhost")
    assert (response.status_code, response.headers["X-Yadockeri-Page"]) == (404, "unknown-stack")
