"""The command line's fast path: a running yadockeri (`up`, `bot`, `reaper`) serves the
everyday commands on a unix socket in its data folder, so `yadockeri deploy` does not start an
engine of its own (importing SQLAlchemy, pydantic and docker costs over a second, more than a
no-change redeploy takes).

The socket is the running yadockeri's: mode 0600, so only its user (and root) can connect; the
kernel says who connected (SO_PEERCRED) and the command runs as `cli:<that user>`, an admin, as it
would in-process. One JSON line asks (`{"argv": [...]}`); the server parses the words itself and
answers with JSON lines: `{"out": text}`, `{"err": text}`, then `{"exit": code}`. Text is made inert
by the server's `say` (stacks.text) before it is sent. Without a server, or with one that does not
answer, the command line runs the command itself, as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)

SOCKET_NAME = "control.sock"
FAST_VERBS = frozenset({"deploy", "redeploy", "env", "list", "status", "logs", "keep", "destroy"})
MAX_REQUEST = 64 * 1024
MAX_PATH = 100  # sun_path holds 108 bytes

stdout: ContextVar[TextIO | None] = ContextVar("stdout", default=None)
stderr: ContextVar[TextIO | None] = ContextVar("stderr", default=None)
user: ContextVar[str | None] = ContextVar("user", default=None)


def socket_path(data_dir: Path) -> Path:
    return Path(data_dir) / SOCKET_NAME


# The client -----------------------------------------------------------------------------------
def client_data_dir() -> Path:
    """The data folder as Settings would find it, without loading Settings (pydantic alone
    costs a third of a second): YADOCKERI_DATA_DIR, else yadockeri.yml's data_dir, else the default."""
    if os.environ.get("YADOCKERI_DATA_DIR"):
        return Path(os.environ["YADOCKERI_DATA_DIR"])
    from stacks.config import _default_data_dir, config_file

    path = config_file()
    if path is not None:
        import yaml

        with contextlib.suppress(Exception):
            data = yaml.safe_load(path.read_text())
            if isinstance(data, dict) and isinstance(data.get("data_dir"), str):
                return Path(data["data_dir"])
    return _default_data_dir()


def run_remote(words: list[str], *, out: TextIO, err: TextIO) -> int | None:
    """Run the command in the running yadockeri; None when there is none to ask."""
    try:
        path = socket_path(client_data_dir())
    except Exception:  # noqa: BLE001 - a bad YADOCKERI_CONFIG: the slow path says what is wrong
        return None
    if len(str(path)) > MAX_PATH or not path.exists():
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:  # a socket left by a yadockeri that stopped
        connection.close()
        return None
    with connection, connection.makefile("rb") as answers:
        connection.sendall(json.dumps({"argv": words}).encode() + b"\n")
        for line in answers:
            message = json.loads(line)
            if "exit" in message:
                return int(message["exit"])
            stream = out if "out" in message else err
            stream.write(message.get("out", message.get("err", "")))
            stream.flush()
    err.write("yadockeri: the running yadockeri stopped before the command ended; "
              "a deployment it started goes on when it starts again (see `yadockeri status`)\n")
    return 1


# The server -----------------------------------------------------------------------------------
class _Lines:
    """A text stream whose writes become JSON lines on the connection."""

    def __init__(self, kind: str, connection: socket.socket, lock: threading.Lock) -> None:
        self.kind, self.connection, self.lock = kind, connection, lock

    def write(self, text: str) -> int:
        with self.lock:
            self.connection.sendall(json.dumps({self.kind: text}).encode() + b"\n")
        return len(text)

    def flush(self) -> None:
        pass


def _peer_user(connection: socket.socket) -> str:
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


@contextlib.contextmanager
def serving(connection: socket.socket) -> Iterator[tuple[TextIO, TextIO]]:
    """Within: say() and TerminalReporter write to the connection, actor() is its user."""
    lock = threading.Lock()
    out, err = _Lines("out", connection, lock), _Lines("err", connection, lock)
    tokens = (stdout.set(out), stderr.set(err), user.set(_peer_user(connection)))  # type: ignore[arg-type]
    try:
        yield out, err  # type: ignore[misc]
    finally:
        stdout.reset(tokens[0])
        stderr.reset(tokens[1])
        user.reset(tokens[2])


class ControlServer:
    """Serves FAST_VERBS on the data folder's socket while a long-running yadockeri runs.
    `execute(words)` runs one command line (parsing it itself) and returns its exit code."""

    def __init__(self, data_dir: Path, execute: Callable[[list[str]], int]) -> None:
        self.path = socket_path(data_dir)
        self.execute = execute
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    def start(self) -> ControlServer:
        if len(str(self.path)) > MAX_PATH:
            log.warning("control socket path too long (%s): commands run in their own process", self.path)
            return self
        with contextlib.suppress(FileNotFoundError):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            with probe:
                if probe.connect_ex(str(self.path)) == 0:
                    log.warning("another yadockeri serves %s: commands go to it", self.path)
                    return self
            self.path.unlink()  # left by a yadockeri that stopped
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old_umask = os.umask(0o177)  # created 0600: nobody else can even connect
        try:
            self._server = socketserver.ThreadingUnixStreamServer(str(self.path), self._handler())
        finally:
            os.umask(old_umask)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="control", daemon=True).start()
        return self

    def _handler(self) -> type[socketserver.StreamRequestHandler]:
        execute = self.execute

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(MAX_REQUEST)
                try:
                    words = json.loads(line)["argv"]
                    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
                        raise ValueError("argv must be a list of strings")
                except (ValueError, KeyError, TypeError):
                    return
                with serving(self.connection) as (_out, err):
                    try:
                        code = execute(words)
                    except BrokenPipeError:
                        return
                    except Exception as error:  # the client gets a line, the log the trace
                        log.exception("control: %s failed", words[:1])
                        err.write(f"yadockeri: internal error: {type(error).__name__}\n")
                        code = 1
                with contextlib.suppress(OSError):
                    self.connection.sendall(json.dumps({"exit": code}).encode() + b"\n")

        return Handler

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self._server = None


def current_out() -> TextIO:
    return stdout.get() or sys.stdout


def current_err() -> TextIO:
    return stderr.get() or sys.stderr
