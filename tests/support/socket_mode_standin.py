"""A local stand-in for Slack's Socket Mode WebSocket endpoint.

Slack's flow, reproduced here: the app calls `apps.connections.open` with its app-level token (answered by
`SlackStandin`, which asks this server for a one-time URL), connects to `ws://127.0.0.1:PORT/link/?ticket=...`,
receives `{"type": "hello", ...}`, then receives envelopes and acknowledges each one by sending back
`{"envelope_id": ..., "payload": {...}}` (the payload is optional).

    with SocketModeStandin() as socket_mode:
        url = socket_mode.new_connection_url()
        ...                                   # a client connects
        socket_mode.wait_connected()
        envelope_id = socket_mode.send_envelope("slash_commands", slash_command_payload("list"))
        ack = socket_mode.wait_for_ack(envelope_id, timeout=3)

The server runs `websockets` in its own thread with its own event loop.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.support.waiting import poll_until

ENVELOPE_TYPES = frozenset({"slash_commands", "interactive", "events_api"})
# Interactions whose ack may carry a response payload (response_action, options); others are acked empty.
_INTERACTIONS_WITH_RESPONSE = frozenset({"view_submission", "block_suggestion"})


@dataclass(frozen=True)
class SentEnvelope:
    envelope_id: str
    type: str
    message: dict[str, Any]
    at: float  # time.monotonic() when it was sent


@dataclass(frozen=True)
class ReceivedMessage:
    message: dict[str, Any]
    at: float  # time.monotonic() at arrival

    @property
    def envelope_id(self) -> str | None:
        return self.message.get("envelope_id")


class SocketModeStandin:
    """Local WebSocket server speaking Slack's Socket Mode protocol (server side)."""

    def __init__(self, *, app_id: str = "A0STANDIN", host: str = "127.0.0.1") -> None:
        self.app_id = app_id
        self.host = host
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._sent: list[SentEnvelope] = []
        self._received: list[ReceivedMessage] = []
        self._connection_count = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SocketModeStandin:
        if self._thread is not None:
            return self
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="socket-mode-standin", daemon=True)
        self._thread.start()
        self._server = self._run(self._open_server(), timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._run(self._close_server(), timeout=15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._thread = self._loop = self._server = None

    def __enter__(self) -> SocketModeStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what apps.connections.open hands out -----------------------------------------------

    def new_connection_url(self) -> str:
        """A one-time WebSocket URL, shaped like Slack's `wss://wss-primary.slack.com/link/?ticket=...`."""
        if self.port is None:
            raise RuntimeError("SocketModeStandin is not started")
        ticket = secrets.token_hex(16)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    # -- driving the app ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        with self._lock:
            return bool(self._connections)

    @property
    def connection_count(self) -> int:
        """How many connections were accepted since start (reconnects included)."""
        with self._lock:
            return self._connection_count

    def wait_connected(self, timeout: float = 5.0) -> None:
        _poll(lambda: self.connected, timeout, "no Socket Mode client connected")

    def send_envelope(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        accepts_response_payload: bool | None = None,
        timeout: float = 5.0,
    ) -> str:
        """Send one envelope to the newest connection (waits up to `timeout` for one); returns its envelope_id."""
        if type not in ENVELOPE_TYPES:
            raise ValueError(f"envelope type must be one of {sorted(ENVELOPE_TYPES)}, not {type!r}")
        envelope_id = str(uuid.uuid4())
        if accepts_response_payload is None:
            accepts_response_payload = _accepts_response_payload(type, payload)
        message: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": type,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api":
            message.update(retry_attempt=0, retry_reason="")
        self._send_to_newest(message, timeout)
        with self._lock:
            self._sent.append(SentEnvelope(envelope_id, type, message, time.monotonic()))
        return envelope_id

    def send_disconnect(self, reason: str = "refresh_requested", timeout: float = 5.0) -> None:
        """Ask the client to reconnect, as Slack does before it recycles a connection."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-standin"}}
        self._send_to_newest(message, timeout)

    def wait_for_ack(self, envelope_id: str, timeout: float = 3.0) -> dict[str, Any]:
        """The client's acknowledgement of `envelope_id` (`{"envelope_id": ..., "payload"?: ...}`)."""
        found = _poll(lambda: self._ack_for(envelope_id), timeout, f"no ack for envelope {envelope_id}")
        return found.message

    # -- recordings -----------------------------------------------------------------------------

    def acks(self) -> list[ReceivedMessage]:
        with self._lock:
            return [m for m in self._received if m.envelope_id is not None]

    def received(self) -> list[ReceivedMessage]:
        """Every message clients sent (acks and anything else)."""
        with self._lock:
            return list(self._received)

    def sent(self) -> list[SentEnvelope]:
        with self._lock:
            return list(self._sent)

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()
            self._received.clear()

    # -- internals ------------------------------------------------------------------------------

    def _run(self, coroutine: Any, timeout: float) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _open_server(self) -> Server:
        return await serve(
            self._serve_connection,
            self.host,
            0,
            process_request=self._check_ticket,
            compression=None,
        )

    async def _close_server(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        ticket = parse_qs(url.query).get("ticket", [""])[0]
        with self._lock:
            valid = url.path == "/link/" and ticket in self._tickets
            self._tickets.discard(ticket)  # a ticket is good for one connection
        if not valid:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")
        return None

    async def _serve_connection(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.append(connection)
            self._connection_count += 1
            count = len(self._connections)
        try:
            await connection.send(json.dumps(self._hello(count)))
            async for raw in connection:
                self._record(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._connections.remove(connection)

    def _hello(self, num_connections: int) -> dict[str, Any]:
        return {
            "type": "hello",
            "num_connections": num_connections,
            "debug_info": {"host": "applink-standin", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }

    def _record(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            message = {"unparsed": raw if isinstance(raw, str) else raw.decode("utf-8", "replace")}
        with self._lock:
            self._received.append(ReceivedMessage(message, time.monotonic()))

    def _ack_for(self, envelope_id: str) -> ReceivedMessage | None:
        with self._lock:
            return next((m for m in self._received if m.envelope_id == envelope_id), None)

    def _send_to_newest(self, message: dict[str, Any], timeout: float) -> None:
        self.wait_connected(timeout)
        with self._lock:
            connection = self._connections[-1]
        self._run(connection.send(json.dumps(message)), timeout)


def _accepts_response_payload(envelope_type: str, payload: dict[str, Any]) -> bool:
    if envelope_type == "slash_commands":
        return True
    if envelope_type == "interactive":
        return payload.get("type") in _INTERACTIONS_WITH_RESPONSE
    return False


def _poll(probe: Any, timeout: float, what: str) -> Any:
    return poll_until(probe, timeout, 0.01, lambda: TimeoutError(f"{what} within {timeout}s"))
