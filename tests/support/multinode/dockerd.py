"""One dockerd per node, each in its node's network namespace and a private mount namespace (where
/var/run/docker.sock is its own socket), with its own data root, exec root, pidfile, socket and
cgroup parent; the worker's also listens on TCP with verified TLS (it is the builder). And how
what a dockerd leaves (mounts, folders, cgroups) is removed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ..infra import stop_process
from .common import BUILDER_URL, DEFAULT_SOCKET, STATE_DIR, WORKER, WORKER_ADDR, Node, run


def make_builder_tls() -> tuple[str, str, str]:
    """A CA, a server certificate for the worker's TCP listener and a client certificate for
    yadockeri: the worker is also a builder reached as YADOCKERI_BUILDER over verified TLS.
    Returns the (CA, client certificate, client key) PEM texts."""
    folder = STATE_DIR / "builder-tls"
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca-key.pem"
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=yadockeri-test-ca")
    for name, subject, extension in (("server", WORKER_ADDR, f"subjectAltName=IP:{WORKER_ADDR}"),
                                     ("client", "yadockeri", "extendedKeyUsage=clientAuth")):
        key, request, cert = folder / f"{name}-key.pem", folder / f"{name}.csr", folder / f"{name}.pem"
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request),
            "-subj", f"/CN={subject}")
        (folder / f"{name}.ext").write_text(extension + "\n")
        run("openssl", "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
            "-CAcreateserial", "-days", "2", "-out", str(cert), "-extfile", str(folder / f"{name}.ext"))
    return ca.read_text(), (folder / "client.pem").read_text(), (folder / "client-key.pem").read_text()


def _bridge_flags(node: Node) -> list[str]:
    """Each node gets a default bridge of its own, inside its namespace, as a real node has
    docker0: BuildKit runs a build's RUN steps there (swarm tasks use docker_gwbridge)."""
    return ["--bip", "172.29.77.1/24" if node.name == WORKER.name else "172.29.76.1/24"]


class Dockerds:
    """The dockerd processes this cluster started, by node name."""

    def __init__(self) -> None:
        self._procs: dict[str, subprocess.Popen] = {}

    def start(self, node: Node) -> None:
        log = open(node.log, "ab")
        # Its own mount namespace too (private propagation: nothing it mounts reaches the host),
        # so that /var/run/docker.sock, which services mount (yadockeri, its volume jobs), is
        # this node's socket there, never the host engine's.
        proc = self._procs[node.name] = subprocess.Popen(
            ["nsenter", f"--net=/var/run/netns/{node.name}", "unshare", "--mount", "--propagation", "private",
             "dockerd", "--data-root", str(node.data_root), "--exec-root", str(node.exec_root),
             "--pidfile", node.pidfile, "-H", node.docker_host, *_tls_flags(node),
             *_bridge_flags(node), "--cgroup-parent", f"/{node.name}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                node.client(timeout=5).ping()
                break
            except Exception:  # noqa: BLE001  (not up yet)
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"dockerd {node.name} did not start: {node.log.read_text()[-2000:]}")
            time.sleep(0.3)
        mount_ns = f"--mount=/proc/{proc.pid}/ns/mnt"
        if not Path(DEFAULT_SOCKET).exists():
            raise RuntimeError(f"{DEFAULT_SOCKET} is missing: the host engine must run (scripts/setup.sh starts it)")
        run("nsenter", mount_ns, "mount", "--bind", node.sock, DEFAULT_SOCKET)
        seen = run("nsenter", mount_ns, "ls", "-i", node.sock, DEFAULT_SOCKET).stdout.decode().split()
        if len(seen) != 4 or seen[0] != seen[2]:
            raise RuntimeError(f"{DEFAULT_SOCKET} is not {node.sock} in the mount namespace of {node.name}: {seen}")

    def stop(self, node: Node) -> None:
        proc = self._procs.pop(node.name, None)
        if proc is None:
            return
        stop_process(proc, 45)
        # Its containerd-shims outlive it briefly; they are in its cgroup parent only.
        _kill_cgroup_procs(node.name)


def remove_node_files(node: Node) -> None:
    """What a node's dockerd leaves: mounts under its roots, the roots, its cgroups."""
    _unmount_under(node.data_root, node.exec_root)
    shutil.rmtree(node.data_root, ignore_errors=True)
    shutil.rmtree(node.exec_root, ignore_errors=True)
    _remove_cgroups(node.name)


def _tls_flags(node: Node) -> list[str]:
    if node is not WORKER:
        return []
    folder = STATE_DIR / "builder-tls"
    return ["-H", BUILDER_URL, "--tlsverify", "--tlscacert", str(folder / "ca.pem"),
            "--tlscert", str(folder / "server.pem"), "--tlskey", str(folder / "server-key.pem")]


def _unmount_under(*roots: Path) -> None:
    prefixes = tuple(str(root) + "/" for root in roots) + tuple(str(root) for root in roots)
    mounts = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefixes):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        run("umount", "-l", point, check=False)


def _cgroup_dirs(name: str) -> list[Path]:
    base = Path("/sys/fs/cgroup")
    found = [p / name for p in base.iterdir() if (p / name).is_dir()] if base.is_dir() else []
    if (base / name).is_dir():
        found.append(base / name)
    return found


def _kill_cgroup_procs(name: str) -> None:
    for folder in _cgroup_dirs(name):
        for procs in folder.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)


def _remove_cgroups(name: str) -> None:
    for folder in _cgroup_dirs(name):
        for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(str(p)), reverse=True):
            with contextlib.suppress(OSError):
                sub.rmdir()
        with contextlib.suppress(OSError):
            folder.rmdir()
