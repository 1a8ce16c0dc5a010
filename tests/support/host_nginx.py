"""The router's rendered nginx.conf served by this machine's own nginx (no Docker), with a
small DNS server standing in for Docker's embedded one (127.0.0.11): names it knows resolve
to 127.0.0.1, every other name is NXDOMAIN, like a stack nobody deployed."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def runnable_conf(conf: str) -> str:
    """The rendered config, runnable by this machine's nginx as the current user."""
    user = pwd.getpwuid(os.geteuid()).pw_name
    assert conf.startswith("# The yadockeri router.") and "\nuser nginx;\n" in conf
    return conf.replace("\nuser nginx;\n", f"\nuser {user};\n", 1)


class DnsServer:
    """Answers A queries for `names` with 127.0.0.1 and NXDOMAIN for anything else."""

    def __init__(self, names: set[str] | None = None) -> None:
        self.names = set(names or ())
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(query) < 12:
                continue
            self.queries.append(query)
            self.sock.sendto(self._answer(query), peer)

    def _answer(self, query: bytes) -> bytes:
        end = query.index(b"\x00", 12) + 5  # the question: name, type, class
        question = query[12:end]
        if qname(query) in self.names and question[-4:-2] == b"\x00\x01":
            # QR|RD|RA, one answer: a pointer to the question's name, A, IN, TTL 1, 127.0.0.1.
            answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x01\x00\x04\x7f\x00\x00\x01"
            return query[:2] + b"\x81\x80" + query[4:6] + b"\x00\x01\x00\x00\x00\x00" + question + answer
        return query[:2] + b"\x81\x83" + query[4:6] + b"\x00" * 6 + question

    def close(self) -> None:
        self.sock.close()


def qname(query: bytes) -> str:
    labels, at = [], 12
    while query[at]:
        labels.append(query[at + 1 : at + 1 + query[at]].decode())
        at += 1 + query[at]
    return ".".join(labels)


@contextmanager
def serve(conf: str, folder: Path, dns: DnsServer) -> Iterator[int]:
    """Run nginx with this rendered config on a free port of 127.0.0.1; yields the port."""
    port = free_port()
    conf = runnable_conf(conf).replace("listen 80", f"listen 127.0.0.1:{port}")
    conf = conf.replace("resolver 127.0.0.11 ", f"resolver 127.0.0.1:{dns.port} ")
    conf = conf.replace("access_log /dev/stdout yadockeri buffer=64k flush=1s;", f"access_log {folder}/access.log yadockeri;")
    conf = conf.replace("access_log /run/yadockeri/activity.fifo yadockeri_count buffer=4k flush=1s",
                        f"access_log {folder}/count.log yadockeri_count")
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        conf = conf.replace("http {\n", f"http {{\n    {temp}_temp_path {folder}/{temp};\n", 1)
    (folder / "nginx.conf").write_text(conf)
    with open(folder / "error.log", "wb") as errors:
        process = subprocess.Popen(
            [NGINX, "-c", str(folder / "nginx.conf"), "-p", f"{folder}/", "-e", "stderr",
             "-g", f"daemon off; pid {folder}/nginx.pid;"],
            stdout=subprocess.DEVNULL, stderr=errors,
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/_router/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, (folder / "error.log").read_text()
            assert time.monotonic() < deadline, "host nginx did not start"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
