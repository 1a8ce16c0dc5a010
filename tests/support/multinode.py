"""A separate two-node swarm on this one machine, with a real registry, for multi-node tests.

Nothing here touches the host's own Docker engine or swarm (other tests and engineers use it):

    10.77.0.254  host side: veth `ydmn-host`; the registry listens here (TLS, htpasswd login)
    10.77.0.1    netns `ydmn-m`: dockerd, swarm manager (advertises this address)
    10.77.0.2    netns `ydmn-w`: dockerd, swarm worker
                 netns `ydmn-sw`: a bridge joining the three (the host's FORWARD policy, DROP with
                 bridge netfilter on, would drop bridged traffic on a bridge in the host namespace)

Each dockerd runs with `nsenter --net` (not `ip netns exec`, which remounts /sys: dockerd then
fails), its own data root, exec root, pidfile, socket and cgroup parent; iptables stays on inside
its namespace, so its containers reach the host side (the Slack stand-in) through NAT. It also
has a private mount namespace in which /var/run/docker.sock is bind-mounted from its own socket:
a service that mounts the Docker socket (yadockeri itself, its jobs) talks to that node, never to
the host's engine.
Images reach the manager with `docker save | docker load`, the worker through the registry.

Only the addresses above (made here) are ever targets of test traffic. Everything is removed by
`Cluster.down()` (also after a failure), and leftovers of a killed run by the next `up()`; one
cluster at a time on the machine (a lock file).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests

with warnings.catch_warnings():  # deprecated (gone in 3.13); here for bcrypt, the registry's htpasswd hash
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

SUBNET = ipaddress.ip_network("10.77.0.0/24")
HOST_ADDR = "10.77.0.254"
MANAGER_ADDR = "10.77.0.1"
WORKER_ADDR = "10.77.0.2"
BUILDER_URL = f"tcp://{WORKER_ADDR}:2376"  # the worker's dockerd over verified TLS (YADOCKERI_BUILDER)
REGISTRY = f"{HOST_ADDR}:5000"
SWITCH_NS = "ydmn-sw"
HOST_IF = "ydmn-host"
LOCK_FILE = "/run/lock/yadockeri-multinode.lock"
REGISTRY_PIDFILE = "/run/ydmn-registry.pid"
CERTS_DIR = Path("/etc/docker/certs.d") / REGISTRY
STATE_DIR = Path("/var/lib/ydmn")  # registry storage, certificates, logs of this cluster (removed by down())
HOST_IMAGES = ("busybox:latest", "yadockeri/nginx-base:local")
HOST_DOCKER = "unix:///var/run/docker.sock"
DEFAULT_SOCKET = "/run/docker.sock"  # /var/run is /run: what services mount as /var/run/docker.sock
LEGACY_VETH = "yd-veth0"  # what scripts/setup.sh made before the multi-node tests had their own swarm


def run(*args: str, check: bool = True, input_bytes: bytes | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), capture_output=True, input=input_bytes, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
    return result


def in_ns(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("nsenter", f"--net=/var/run/netns/{ns}", *args, check=check)


@dataclass(frozen=True)
class Node:
    name: str  # ydmn-m, ydmn-w: the network namespace, and the prefix of every path of its dockerd
    addr: str
    peer: str  # the veth end in the switch namespace

    @property
    def sock(self) -> str:
        return f"/run/{self.name}.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def pidfile(self) -> str:
        return f"/run/{self.name}.pid"

    @property
    def data_root(self) -> Path:
        return Path(f"/var/lib/{self.name}")

    @property
    def exec_root(self) -> Path:
        return Path(f"/run/{self.name}")

    @property
    def log(self) -> Path:
        return STATE_DIR / f"{self.name}-dockerd.log"

    def client(self, timeout: int = 600) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.docker_host, timeout=timeout)


MANAGER = Node("ydmn-m", MANAGER_ADDR, "ydmn-mp")
WORKER = Node("ydmn-w", WORKER_ADDR, "ydmn-wp")
NODES = (MANAGER, WORKER)


class Cluster:
    """The two-node swarm and its registry. `up()` makes it, `down()` removes every part."""

    def __init__(self) -> None:
        self.registry = REGISTRY
        self.registry_user = "yd-" + secrets.token_hex(3)
        self.registry_password = secrets.token_urlsafe(18)
        self._lock: int | None = None
        self._registry_proc: subprocess.Popen | None = None
        self._dockerd: dict[str, subprocess.Popen] = {}
        self.manager = MANAGER
        self.worker = WORKER
        self.node_ids: dict[str, str] = {}
        self.builder_tls: tuple[str, str, str] = ("", "", "")  # CA, client certificate, key (PEM)

    # -- up ------------------------------------------------------------------------------------
    def up(self) -> Cluster:
        self._lock = os.open(LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # one multi-node session at a time on this machine
        try:
            self._remove_leftovers()
            self._check_subnet_free()
            STATE_DIR.mkdir(parents=True, exist_ok=True)
            self._network()
            self._registry()
            self._builder_tls()
            for node in NODES:
                self._start_dockerd(node)
            self._swarm()
            self._load_images(HOST_IMAGES)
        except BaseException:
            self.down()
            raise
        return self

    def _check_subnet_free(self) -> None:
        for line in run("ip", "-4", "-o", "addr", "show").stdout.decode().splitlines():
            fields = line.split()
            dev, cidr = fields[1], fields[3]
            if ipaddress.ip_interface(cidr).ip in SUBNET:
                host_swarm = docker.DockerClient(base_url=HOST_DOCKER).info().get("Swarm", {}).get("NodeAddr")
                if dev.split("@")[0] == LEGACY_VETH and host_swarm != cidr.split("/")[0]:
                    run("ip", "link", "del", LEGACY_VETH)  # old setup.sh's pair, unused by the host swarm
                    continue
                raise RuntimeError(f"{cidr} is on {dev} already: the multi-node tests need {SUBNET} for themselves")

    def _network(self) -> None:
        for ns in (SWITCH_NS, MANAGER.name, WORKER.name):
            run("ip", "netns", "add", ns)
        in_ns(SWITCH_NS, "ip", "link", "add", "br0", "type", "bridge")
        in_ns(SWITCH_NS, "ip", "link", "set", "br0", "up")
        in_ns(SWITCH_NS, "ip", "link", "set", "lo", "up")
        run("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", "ydmn-hp", "netns", SWITCH_NS)
        run("ip", "addr", "add", f"{HOST_ADDR}/24", "dev", HOST_IF)
        run("ip", "link", "set", HOST_IF, "up")
        peers = ["ydmn-hp"]
        for node in NODES:
            run("ip", "link", "add", node.peer, "netns", SWITCH_NS, "type", "veth", "peer", "name", "eth0",
                "netns", node.name)
            in_ns(node.name, "ip", "addr", "add", f"{node.addr}/24", "dev", "eth0")
            in_ns(node.name, "ip", "link", "set", "eth0", "up")
            in_ns(node.name, "ip", "link", "set", "lo", "up")
            peers.append(node.peer)
        for peer in peers:
            in_ns(SWITCH_NS, "ip", "link", "set", peer, "master", "br0")
            in_ns(SWITCH_NS, "ip", "link", "set", peer, "up")

    def _registry(self) -> None:
        folder = STATE_DIR / "registry"
        (folder / "storage").mkdir(parents=True, exist_ok=True)
        key, cert = folder / "key.pem", folder / "cert.pem"
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "2", "-subj", f"/CN={HOST_ADDR}", "-addext", f"subjectAltName=IP:{HOST_ADDR}")
        hashed = crypt.crypt(self.registry_password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 6))
        (folder / "htpasswd").write_text(f"{self.registry_user}:{hashed}\n")
        config = folder / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: warn}\n"
            f"storage: {{filesystem: {{rootdirectory: {folder / 'storage'}}}, delete: {{enabled: true}}}}\n"
            f"auth: {{htpasswd: {{realm: yadockeri-test, path: {folder / 'htpasswd'}}}}}\n"
            f"http: {{addr: '{REGISTRY}', secret: {secrets.token_hex(16)}, "
            f"tls: {{certificate: {cert}, key: {key}}}}}\n"
        )
        CERTS_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copy(cert, CERTS_DIR / "ca.crt")  # every dockerd of the machine reads it, no restart
        log = open(STATE_DIR / "registry.log", "ab")
        self._registry_proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
        Path(REGISTRY_PIDFILE).write_text(str(self._registry_proc.pid))
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"https://{REGISTRY}/v2/", verify=str(cert), timeout=2).status_code == 401:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self._registry_proc.poll() is not None:
                raise RuntimeError(f"the registry did not start: {(STATE_DIR / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.2)

    def _builder_tls(self) -> None:
        """A CA, a server certificate for the worker's TCP listener and a client certificate for
        yadockeri: the worker is also a builder reached as YADOCKERI_BUILDER over verified TLS."""
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
        self.builder_tls = (ca.read_text(), (folder / "client.pem").read_text(), (folder / "client-key.pem").read_text())

    def _dockerd_tls_flags(self, node: Node) -> list[str]:
        if node is not WORKER:
            return []
        folder = STATE_DIR / "builder-tls"
        return ["-H", BUILDER_URL, "--tlsverify", "--tlscacert", str(folder / "ca.pem"),
                "--tlscert", str(folder / "server.pem"), "--tlskey", str(folder / "server-key.pem")]

    def _start_dockerd(self, node: Node) -> None:
        log = open(node.log, "ab")
        # Its own mount namespace too (private propagation: nothing it mounts reaches the host),
        # so that /var/run/docker.sock, which services mount (yadockeri, its volume jobs), is
        # this node's socket there, never the host engine's.
        proc = self._dockerd[node.name] = subprocess.Popen(
            ["nsenter", f"--net=/var/run/netns/{node.name}", "unshare", "--mount", "--propagation", "private",
             "dockerd", "--data-root", str(node.data_root), "--exec-root", str(node.exec_root),
             "--pidfile", node.pidfile, "-H", node.docker_host, *self._dockerd_tls_flags(node),
             "--bridge", "none", "--cgroup-parent", f"/{node.name}"],
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

    def _swarm(self) -> None:
        manager = self.manager.client()
        manager.swarm.init(advertise_addr=MANAGER_ADDR, listen_addr=f"{MANAGER_ADDR}:2377")
        token = manager.swarm.attrs["JoinTokens"]["Worker"]
        self.worker.client().swarm.join(remote_addrs=[f"{MANAGER_ADDR}:2377"], join_token=token,
                                        advertise_addr=WORKER_ADDR, listen_addr=f"{WORKER_ADDR}:2377")
        deadline = time.monotonic() + 60
        while True:
            nodes = manager.api.nodes()
            if len(nodes) == 2 and all(n["Status"]["State"] == "ready" for n in nodes):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not join: {nodes}")
            time.sleep(0.5)
        for n in nodes:
            self.node_ids["manager" if n["Spec"]["Role"] == "manager" else "worker"] = n["ID"]

    def load_images(self, images: tuple[str, ...], node: Node | None = None) -> None:
        self._load_images(images, node or self.manager)

    def _load_images(self, images: tuple[str, ...], node: Node | None = None) -> None:
        node = node or self.manager
        save = subprocess.Popen(["docker", "-H", HOST_DOCKER, "save", *images], stdout=subprocess.PIPE)
        load = subprocess.run(["docker", "-H", node.docker_host, "load", "-q"], stdin=save.stdout,
                              capture_output=True, check=False)
        assert save.stdout is not None
        save.stdout.close()
        if save.wait() != 0 or load.returncode != 0:
            raise RuntimeError(f"could not copy {images} to {node.name}: {load.stderr.decode(errors='replace')}")

    # -- use -----------------------------------------------------------------------------------
    def set_availability(self, role: str, availability: str) -> None:
        """`docker node update --availability active|pause|drain` of the manager or the worker."""
        api = self.manager.client().api
        node = api.inspect_node(self.node_ids[role])
        spec = dict(node["Spec"], Availability=availability)
        api.update_node(node["ID"], node["Version"]["Index"], spec)

    def registry_api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"https://{REGISTRY}{path}", auth=(self.registry_user, self.registry_password),
                                verify=str(CERTS_DIR / "ca.crt"), timeout=15, **kwargs)

    def registry_tags(self, repository: str) -> list[str]:
        answer = self.registry_api("GET", f"/v2/{repository}/tags/list")
        if answer.status_code == 404:
            return []
        answer.raise_for_status()
        return list(answer.json().get("tags") or [])

    def registry_has(self, ref: str) -> bool:
        """Whether the registry still serves this `<registry>/<repo>:<tag>` (its manifest)."""
        repository, tag = ref[len(REGISTRY) + 1:].rsplit(":", 1)
        answer = self.registry_api("HEAD", f"/v2/{repository}/manifests/{tag}", headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        return answer.status_code == 200

    def volumes_on(self, node: Node, label: str) -> list[str]:
        found = node.client().api.volumes(filters={"label": [label]}).get("Volumes") or []
        return [v["Name"] for v in found]

    # -- down ----------------------------------------------------------------------------------
    def down(self) -> None:
        try:
            for node in (WORKER, MANAGER):
                self._stop_dockerd(node)
            for node in NODES:
                _unmount_under(node.data_root, node.exec_root)
                shutil.rmtree(node.data_root, ignore_errors=True)
                shutil.rmtree(node.exec_root, ignore_errors=True)
                _remove_cgroups(node.name)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(node.sock)
            self._stop_registry()
            shutil.rmtree(CERTS_DIR, ignore_errors=True)
            for ns in (MANAGER.name, WORKER.name, SWITCH_NS):
                run("ip", "netns", "del", ns, check=False)
            run("ip", "link", "del", HOST_IF, check=False)
            shutil.rmtree(STATE_DIR, ignore_errors=True)
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    def _remove_leftovers(self) -> None:
        """What a killed earlier run left (its processes are found by their pidfiles, and are
        ended only if their command line names this cluster's paths)."""
        for node in (WORKER, MANAGER):
            _end_pidfile(node.pidfile, node.pidfile)
        _end_pidfile(REGISTRY_PIDFILE, str(STATE_DIR / "registry"))
        for ns in (MANAGER.name, WORKER.name, SWITCH_NS):
            if Path(f"/var/run/netns/{ns}").exists():
                run("ip", "netns", "del", ns, check=False)
        run("ip", "link", "del", HOST_IF, check=False)
        for node in NODES:
            _unmount_under(node.data_root, node.exec_root)
            shutil.rmtree(node.data_root, ignore_errors=True)
            shutil.rmtree(node.exec_root, ignore_errors=True)
            _remove_cgroups(node.name)
        shutil.rmtree(STATE_DIR / "registry", ignore_errors=True)

    def _stop_dockerd(self, node: Node) -> None:
        proc = self._dockerd.pop(node.name, None)
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(45)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        # Its containerd-shims outlive it briefly; they are in its cgroup parent only.
        _kill_cgroup_procs(node.name)

    def _stop_registry(self) -> None:
        proc, self._registry_proc = self._registry_proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(REGISTRY_PIDFILE)


def _end_pidfile(pidfile: str, must_mention: str) -> None:
    try:
        pid = int(Path(pidfile).read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        cmdline = ""
    if must_mention in cmdline:
        os.kill(pid, signal.SIGTERM)
        for _ in range(90):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.5)
        else:
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pidfile)


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


# The yadockeri image, built with no network ------------------------------------------------------
BASE_RECIPE = ("bookworm", "minbase", ("python3", "python3-venv", "git", "openssh-client"))
BASE_REPO = "yadockeri-test/debian-python"
CLI_IMAGE = "yadockeri-test/docker-cli:local"
REPO_ROOT = Path(__file__).resolve().parents[2]


def base_image_tag() -> str:
    digest = hashlib.sha256(repr(BASE_RECIPE).encode()).hexdigest()[:8]
    return f"{BASE_REPO}:{BASE_RECIPE[0]}-{digest}"


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 `URIs:` or one-line `deb URL`)."""
    texts = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        with contextlib.suppress(OSError):
            texts.append(path.read_text())
    for text in texts:
        for match in re.finditer(r"(?m)^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text):
            uri = match.group(1)
            if "security" not in uri and uri.rstrip("/").endswith("debian"):
                return uri
    return "http://deb.debian.org/debian"


def ensure_base_image(say=print) -> str:
    """A Debian bookworm image with Python 3.11, venv, git and ssh, made with debootstrap on the
    host engine, kept between runs (its tag names the recipe): it takes minutes to make."""
    tag = base_image_tag()
    host = docker.DockerClient(base_url=HOST_DOCKER, timeout=600)
    with contextlib.suppress(docker.errors.ImageNotFound):
        host.images.get(tag)
        return tag
    suite, variant, packages = BASE_RECIPE
    root = Path(tempfile.mkdtemp(prefix="ydmn-debootstrap-", dir="/var/tmp"))
    try:
        started = time.monotonic()
        run("debootstrap", f"--variant={variant}", f"--include={','.join(packages)}", suite, str(root), debian_mirror())
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale"):
            shutil.rmtree(root / junk, ignore_errors=True)
        (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        run_import = subprocess.run(["docker", "-H", HOST_DOCKER, "import", "-c", "ENV LANG=C.UTF-8", "-",
                                     tag], stdin=tar.stdout, capture_output=True, check=False)
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or run_import.returncode != 0:
            raise RuntimeError(f"docker import failed: {run_import.stderr.decode(errors='replace')}")
        say(f"base image {tag} made in {time.monotonic() - started:.0f}s")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return tag


def make_cli_image(node: Node) -> str:
    """A tiny image holding this machine's docker CLI at /usr/local/bin/docker (the Dockerfile's
    DOCKER_CLI_IMAGE), made right in the node's engine."""
    root = Path(tempfile.mkdtemp(prefix="ydmn-cli-"))
    try:
        (root / "usr/local/bin").mkdir(parents=True)
        shutil.copy2("/usr/bin/docker", root / "usr/local/bin/docker")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        done = subprocess.run(["docker", "-H", node.docker_host, "import", "-", CLI_IMAGE], stdin=tar.stdout,
                              capture_output=True, check=False)
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or done.returncode != 0:
            raise RuntimeError(f"docker import of the CLI failed: {done.stderr.decode(errors='replace')}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return CLI_IMAGE


def make_wheelhouse() -> Path:
    run(str(REPO_ROOT / "scripts" / "wheelhouse.sh"))
    return REPO_ROOT / ".wheelhouse"


def build_yadockeri_image(node: Node, *, base: str, cli: str, tag: str) -> tuple[str, list[str]]:
    """`docker build --network none` of the top-level Dockerfile on the node; returns (image ID, log)."""
    client = node.client()
    lines: list[str] = []
    try:
        image, log = client.images.build(
            path=str(REPO_ROOT), tag=tag, network_mode="none", pull=False, rm=True, forcerm=True,
            buildargs={"BASE_IMAGE": base, "DOCKER_CLI_IMAGE": cli},
        )
    except docker.errors.BuildError as error:
        lines = [str(c.get("stream") or c.get("error") or "").rstrip() for c in error.build_log]
        raise RuntimeError("the yadockeri image did not build:\n" + "\n".join(lines[-40:])) from None
    lines = [str(c.get("stream") or "").rstrip() for c in log]
    return image.id, lines


def basic_auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()
