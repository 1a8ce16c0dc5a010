"""The docker CLI: the one place it runs (`docker stack deploy` of a stack's middleware)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile

from ..errors import DockerUnavailable, SpecError, YadockeriError
from .connect import write_private

STACK_DEPLOY_TIMEOUT = 300


class Cli:
    """Commands the SDK has no call for, run with the same engine and login as the SDK."""

    host: str
    registry_auth: tuple[str, str, str] | None

    def stack_deploy(self, stack: str, compose_yaml: str, *, with_registry_auth: bool) -> str:
        """`docker stack deploy` of a checked compose file. Never --prune: that would remove the
        process services, which carry the stack's namespace label too."""
        args = [docker_cli(), "stack", "deploy", "--compose-file", "-", "--resolve-image", "never"]
        if with_registry_auth:
            args.append("--with-registry-auth")
        args += ["--", stack]
        env = self._cli_env()
        login = _cli_login(self.registry_auth) if with_registry_auth and self.registry_auth else None
        if login is not None:  # the CLI sends its own login with --with-registry-auth: a throwaway config
            env["DOCKER_CONFIG"] = login.name
        try:
            result = subprocess.run(args, input=compose_yaml, capture_output=True, text=True, env=env,
                                    timeout=STACK_DEPLOY_TIMEOUT, check=False)
        except FileNotFoundError:
            raise DockerUnavailable("the docker CLI is not installed (needed for `docker stack deploy`)") from None
        except subprocess.TimeoutExpired:
            raise YadockeriError(f"`docker stack deploy {stack}` did not finish within {STACK_DEPLOY_TIMEOUT} s") from None
        finally:
            if login is not None:
                login.cleanup()
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            if "Cannot connect to the Docker daemon" in output:
                raise DockerUnavailable(f"cannot reach the Docker daemon: {output.splitlines()[-1]}")
            said = output.splitlines()[-1] if output else result.returncode
            raise SpecError(f"docker stack deploy refused the middleware: {said}")
        return output

    def _cli_env(self) -> dict[str, str]:
        """A minimal environment: the CLI interpolates ${VARS} in the file from its own
        environment, and yadockeri's holds secrets (compose.py also escapes every `$`)."""
        env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": os.environ.get("HOME", "/root")}
        env.update({k: v for k, v in os.environ.items() if k in ("DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")})
        env["DOCKER_HOST"] = self.host
        return env


def docker_cli() -> str:
    return shutil.which("docker", path="/usr/bin:/usr/local/bin") or "docker"


def _cli_login(auth: tuple[str, str, str]) -> tempfile.TemporaryDirectory:
    """A DOCKER_CONFIG folder (mode 700) whose config.json holds the registry login, for one CLI call."""
    registry, username, password = auth
    folder = tempfile.TemporaryDirectory(prefix="yadockeri-cli-")
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    write_private(os.path.join(folder.name, "config.json"), json.dumps({"auths": {registry: {"auth": token}}}))
    return folder
