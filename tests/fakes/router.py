"""FakeRouter: the router's two answers to yadockeri's readiness checks (stacks/waits.py),
served over HTTP on 127.0.0.1 from a FakeSwarm's tasks, so the pipeline's wait step runs its
real code (requests, RouterCheck) against it. Point `Settings.router_url` at `router.url`.

- `GET /_router/resolve/<stack>` with the router token: the addresses the router's DNS cache
  holds for the stack's web (those of its running web tasks on the router network).
- `GET /` with `Host: <stack>.<domain>`: 200 from one of those tasks, saying which answered.
Only what the router's nginx.conf does for these two requests (stacks/router.py); nothing else.
Set `answers = False` to have it refuse every request as a router would that cannot reach the
stack (502), or close() it to make it unreachable.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from stacks.docker_adapter.labels import WEB_PORT, service_name
from stacks.router import CHECK_HEADER, PAGE_HEADER, RESOLVE_PATH, RESOLVED_HEADER, UPSTREAM_HEADER

from .swarm import FakeSwarm

RESOLVE_PORT = 1  # nginx tries every cached address on a port nothing listens on


class FakeRouter:
    def __init__(self, swarm: FakeSwarm, *, network: str, token: str) -> None:
        self.swarm = swarm
        self.network = network
        self.token = token
        self.answers = True
        self.statuses: dict[str, int] = {}  # what the stacks' web answers to a path (200 otherwise)
        self.requests: list[tuple[str, str]] = []  # (host, path) of every request
        router = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                router._answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the test's output is the test's

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll: close() waits for the loop to notice (0.5 s by default, every test).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name="fake-router",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def web_addresses(self, stack: str) -> list[str]:
        """Router-network addresses of the stack's running web tasks (what its DNS would hold)."""
        name = service_name(stack, "web")
        if self.swarm.service(name) is None:
            return []
        found = []
        for task in self.swarm.tasks(name):
            if task["Status"]["State"] != "running" or task["DesiredState"] != "running":
                continue
            for attachment in task.get("NetworksAttachments") or []:
                if attachment["Network"]["Spec"]["Name"] == self.network:
                    found += [address.split("/", 1)[0] for address in attachment["Addresses"]]
        return found

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        host = request.headers.get("Host", "")
        self.requests.append((host, request.path))
        checked = request.headers.get(CHECK_HEADER) == self.token
        if not self.answers:
            self._send(request, 502, {})
        elif request.path.startswith(RESOLVE_PATH):
            self._resolve(request, request.path[len(RESOLVE_PATH):], checked)
        else:
            self._proxy(request, host.split(".", 1)[0], checked)

    def _resolve(self, request: BaseHTTPRequestHandler, stack: str, checked: bool) -> None:
        if not checked:
            self._send(request, 404, {})
            return
        addresses = self.web_addresses(stack)
        headers = {PAGE_HEADER: "resolve"}
        if addresses:  # nginx sends no empty header
            headers[RESOLVED_HEADER] = ", ".join(f"{address}:{RESOLVE_PORT}" for address in addresses)
        self._send(request, 502, headers)

    def _proxy(self, request: BaseHTTPRequestHandler, stack: str, checked: bool) -> None:
        addresses = self.web_addresses(stack)
        if not addresses:
            self._send(request, 404, {PAGE_HEADER: "unknown-stack"})
            return
        status = self.statuses.get(request.path, 200)
        self._send(request, status, {UPSTREAM_HEADER: f"{addresses[0]}:{WEB_PORT}"} if checked else {})

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
        request.send_response(status)
        for key, value in {**headers, "Content-Length": "0"}.items():
            request.send_header(key, value)
        request.end_headers()
