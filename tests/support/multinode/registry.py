"""The cluster's registry: `docker-registry` on the host side (10.77.0.254:5000) with a
self-signed certificate every dockerd of the machine trusts, an htpasswd login, deletes
enabled; and the few API calls tests make to it."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import requests

from .common import CERTS_DIR, HOST_ADDR, REGISTRY, REGISTRY_PIDFILE, STATE_DIR, run

with warnings.catch_warnings():  # deprecated (gone in 3.13); here for bcrypt, the registry's htpasswd hash
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt


class RegistryServer:
    """The registry process of one cluster, logging in `user` with `password`."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        folder = STATE_DIR / "registry"
        (folder / "storage").mkdir(parents=True, exist_ok=True)
        key, cert = folder / "key.pem", folder / "cert.pem"
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "2", "-subj", f"/CN={HOST_ADDR}", "-addext", f"subjectAltName=IP:{HOST_ADDR}")
        hashed = crypt.crypt(self.password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 6))
        (folder / "htpasswd").write_text(f"{self.user}:{hashed}\n")
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
        self._proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        Path(REGISTRY_PIDFILE).write_text(str(self._proc.pid))
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"https://{REGISTRY}/v2/", verify=str(cert), timeout=2).status_code == 401:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise RuntimeError(f"the registry did not start: {(STATE_DIR / 'registry.log').read_text()[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(REGISTRY_PIDFILE)

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"https://{REGISTRY}{path}", auth=(self.user, self.password),
                                verify=str(CERTS_DIR / "ca.crt"), timeout=15, **kwargs)

    def tags(self, repository: str) -> list[str]:
        answer = self.api("GET", f"/v2/{repository}/tags/list")
        if answer.status_code == 404:
            return []
        answer.raise_for_status()
        return list(answer.json().get("tags") or [])

    def has(self, ref: str) -> bool:
        """Whether the registry still serves this `<registry>/<repo>:<tag>` (its manifest)."""
        repository, tag = ref[len(REGISTRY) + 1:].rsplit(":", 1)
        answer = self.api("HEAD", f"/v2/{repository}/manifests/{tag}", headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        return answer.status_code == 200
