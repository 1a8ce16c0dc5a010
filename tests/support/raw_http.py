"""HTTP the way a hostile client speaks it: bodies far too large, requests never finished.

`requests` cannot show these: it waits to send a whole body before it reads an answer, and a
server that answers 413 early and closes then looks like a connection error.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager


def post_huge(host: str, port: int, path: str, total: int, *, chunked: bool = False,
              headers: dict[str, str] | None = None, timeout: float = 60.0) -> tuple[str, int]:
    """POST a `total`-byte body while reading: (the answer's status line; how many body bytes
    were sent before it came). The status line is "reset" when the server closed the
    connection hard before its answer could be read (see below).

    Like curl with `Expect: 100-continue`, it first waits a moment for an early answer, so a
    server that refuses on the declared length answers before any of the body is sent. A
    chunked body has no declared length: the server must read past its limit, and when it then
    closes with the rest unread, its kernel sends a reset that may discard the answer it had
    just written (waitress closes without lingering)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    piece = b'{"x": "' + b"a" * 65520 + b'"}'
    sent, answer = 0, b""
    deadline = time.monotonic() + timeout
    early = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline and b"\r\n" not in answer:
            waiting = time.monotonic() < early and not chunked
            readable, writable, _ = select.select([sock], [sock] if sent < total and not waiting else [], [],
                                                  0.05 if waiting else 1.0)
            if readable:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
            elif writable:
                chunk = piece[: total - sent]
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
                sent += len(chunk)
                if chunked and sent >= total:
                    sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        if b"\r\n" not in answer:
            return "reset", sent
    finally:
        sock.close()
    return answer.split(b"\r\n", 1)[0].decode("latin-1"), sent


@contextmanager
def half_requests(host: str, port: int, count: int, *, timeout: float = 10.0) -> Iterator[list[socket.socket]]:
    """`count` connections that each send half a request line and then nothing (slowloris)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection((host, port), timeout=timeout)
            try:
                sock.sendall(b"GET /_yadockeri/stack/akira HTTP/1.1\r\nHost: x\r\n")
            except OSError:  # refused at once: that is one of the outcomes a test looks at
                pass
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closes (or resets) this connection within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def vm_kib(pid: int, field: str) -> int:
    """A memory figure of a process from /proc (VmRSS: now, VmHWM: its peak), in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)
