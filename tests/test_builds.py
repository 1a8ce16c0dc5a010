"""Builds with BuildKit: today's Dockerfiles deploy, build secrets reach a RUN step and nothing
else, a foreign frontend or an undefined secret is refused before the build starts, and a new
branch reuses the layers of earlier builds. Real engine, router and database."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from stacks.config import AppConfig, BuildSecret, Settings
from stacks.engine import Engine
from tests.conftest import unique
from tests.support.helpers import deploy, steps, succeeded, through_router
from tests.support.infra import purge
from tests.support.sample_app import SampleRepo

pytestmark = pytest.mark.swarm

CHECK_CGI = """\
#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "deps=$(cat /deps.txt)"
echo "assets=$(cat /assets.txt)"
echo "notes=$([ -e /www/notes.txt ] && echo present || echo absent)"
echo "token_sha=$(cat /token.sha 2>/dev/null || echo none)"
"""
SERVE = 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'


def check_page(settings: Settings, stack: str) -> dict[str, str]:
    response = through_router(settings, stack, path="/cgi-bin/check.cgi")
    assert response.status_code == 200, response.text
    return dict(line.split("=", 1) for line in response.text.splitlines() if "=" in line)


def log_of(settings: Settings, deployment_id: int) -> str:
    return (settings.data_dir / "logs" / f"{deployment_id}.log").read_text()


def test_a_modern_dockerfile_deploys(engine: Engine, settings: Settings, sample_repo: SampleRepo) -> None:
    """Cache mounts, parallel stages, COPY --chmod (the CGI is not executable in git), a target
    that skips a later stage which would fail, args kept as written, a .dockerignore."""
    sample_repo.write({
        "Dockerfile": (
            "FROM busybox:latest AS deps\n"
            "RUN --mount=type=cache,target=/cache sh -c 'echo cached-deps > /cache/d; cp /cache/d /deps.txt'\n"
            "FROM busybox:latest AS assets\n"
            "ARG FLAVOUR\n"
            "RUN echo \"$FLAVOUR\" > /assets.txt\n"
            "FROM busybox:latest AS final\n"
            "COPY --chmod=755 www /www\n"
            "COPY --from=deps /deps.txt /deps.txt\n"
            "COPY --from=assets /assets.txt /assets.txt\n" + SERVE +
            "FROM final AS debug\n"
            "RUN echo this-stage-is-not-built && false\n"
        ),
        ".dockerignore": "www/notes.txt\n",
        "www/notes.txt": "kept out of the image by .dockerignore",
        "www/cgi-bin/check.cgi": CHECK_CGI,
        ".yadockeri.yml": "build: {target: final, args: {FLAVOUR: 3.10}}\n",
    })
    sample_repo.commit("a Dockerfile of today")
    stack = unique("k")
    record = succeeded(deploy(engine, stack))
    assert check_page(settings, stack) == {"deps": "cached-deps", "assets": "3.10", "notes": "absent", "token_sha": "none"}
    log = log_of(settings, record.id)
    assert "build args: FLAVOUR=3.10" in log
    assert "this-stage-is-not-built" not in log


def test_a_build_secret_reaches_its_run_step_and_nothing_else(
        make_settings: Callable[..., Settings], sample_repo: SampleRepo, docker_client: docker.DockerClient,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token = "npm-" + os.urandom(16).hex()
    variable = f"YADOCKERI_TEST_NPM_{os.urandom(4).hex().upper()}"
    monkeypatch.setenv(variable, token)
    app = unique("a")
    settings = make_settings(app_name=app, apps={app: AppConfig(
        repo=str(sample_repo.path), default=True, build_secrets={"npm_token": BuildSecret(env=variable)})})
    sample_repo.write({
        "Dockerfile": (
            "FROM busybox:latest\n"
            # The step prints the secret too: the log must show it masked. BuildKit's cache key
            # does not include a secret's value: the app's name makes this step new for this test.
            f"RUN --mount=type=secret,id=npm_token sh -c 'echo {app}' && sh -c "
            "'echo token-is-$(cat /run/secrets/npm_token); sha256sum /run/secrets/npm_token | cut -d\" \" -f1 > /token.sha'\n"
            "RUN echo x > /deps.txt && echo y > /assets.txt\n"
            "COPY --chmod=755 www /www\n" + SERVE
        ),
        "www/cgi-bin/check.cgi": CHECK_CGI,
    })
    sample_repo.commit("a build that needs a token")
    engine = Engine(settings)
    engine.start()
    stack = unique("s")
    try:
        record = succeeded(deploy(engine, stack))
        image = engine.store.require_stack(stack).image
        assert check_page(settings, stack)["token_sha"] == hashlib.sha256(token.encode()).hexdigest()
        assert image is not None
        log = log_of(settings, record.id)
        assert "token-is-" in log and token not in log
        assert record.log_tail is not None and token not in record.log_tail
        history = subprocess.run(["docker", "history", "--no-trunc", image], capture_output=True, text=True, check=True)
        assert token not in history.stdout
        assert not layers_containing(docker_client, image, token.encode(), tmp_path)
        assert not files_with(settings.data_dir, token.encode())  # database, logs, mirrors
    finally:
        engine.close()
        purge(docker_client, stack)  # its own engine: the fixtures do not know this stack or app
        purge(docker_client, app)


def layers_containing(client: docker.DockerClient, image: str, needle: bytes, folder: Path) -> list[str]:
    """The members of the saved image (every layer's files, its config) that contain `needle`."""
    saved = folder / "image.tar"
    with saved.open("wb") as out:
        for chunk in client.images.get(image).save():
            out.write(chunk)
    found = []
    with tarfile.open(saved) as outer:
        for member in outer.getmembers():
            data = outer.extractfile(member)
            if data is None:
                continue
            content = data.read()
            if needle in content:
                found.append(member.name)
            if member.name.endswith(".tar"):
                with tarfile.open(fileobj=io.BytesIO(content)) as layer:
                    found += [f"{member.name}:{m.name}" for m in layer.getmembers()
                              if (f := layer.extractfile(m)) is not None and needle in f.read()]
    return found


def files_with(folder: Path, needle: bytes) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()]


@pytest.mark.parametrize(("dockerfile", "message"), [
    ("FROM busybox:latest\nRUN --mount=type=secret,id=deploy_key cat /run/secrets/deploy_key\n",
     "mounts the build secret `deploy_key`, which app `{app}` does not define"),
    ("# syntax=evil.example/frontend:1\nFROM busybox:latest\n",
     "`# syntax=evil.example/frontend:1` names a Dockerfile frontend this yadockeri does not run"),
])
def test_an_undefined_secret_or_a_foreign_frontend_is_refused_before_the_build(
        engine: Engine, settings: Settings, sample_repo: SampleRepo, dockerfile: str, message: str) -> None:
    sample_repo.write({"Dockerfile": dockerfile})
    sample_repo.commit("asks for what it may not have")
    stack = unique("r")
    failed = deploy(engine, stack)
    (app,) = settings.apps
    assert failed.state == "failed" and steps(failed)["build"] == "failed"
    assert failed.error is not None and message.format(app=app) in failed.error
    log = log_of(settings, failed.id)
    assert "[internal] load build definition" not in log  # BuildKit never started


def test_a_second_branch_reuses_the_dependency_layer(engine: Engine, settings: Settings, sample_repo: SampleRepo) -> None:
    sample_repo.write({
        "Dockerfile": (
            "FROM busybox:latest AS deps\n"
            "COPY deps.txt /deps.in\n"
            "RUN --mount=type=cache,target=/cache sh -c 'echo installing-$((40+2)); cp /deps.in /deps.txt'\n"
            "FROM busybox:latest\n"
            "COPY --from=deps /deps.txt /deps.txt\n"
            "RUN echo a > /assets.txt\n"
            "COPY --chmod=755 www /www\n" + SERVE
        ),
        "deps.txt": f"left-pad==1.3.0 # {unique('d')}",  # new to the builder's cache: the step runs once here
        "www/cgi-bin/check.cgi": CHECK_CGI,
    })
    sample_repo.commit("dependencies")
    first = succeeded(deploy(engine, unique("c")))
    assert "installing-42" in log_of(settings, first.id)
    sample_repo.branch("feature-x")
    sample_repo.write({"www/content.txt": "a change in one source file"})
    sample_repo.commit("one source file")
    stack = unique("c")
    second = succeeded(deploy(engine, stack, "feature-x"))
    log = log_of(settings, second.id)
    assert "installing-42" not in log
    assert any(line.endswith("CACHED") for line in log.splitlines())
    assert check_page(settings, stack)["deps"].startswith("left-pad==1.3.0 # ")


def test_host_files_behind_symlinks_in_a_branch_stay_on_the_host(
        engine: Engine, settings: Settings, sample_repo: SampleRepo, tmp_path: Path) -> None:
    """An attacker's branch links its Dockerfile, and a file it copies, to files of the host:
    the Dockerfile is refused before the CLI reads it, and the image holds the link, not the file."""
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST-ONLY-" + os.urandom(8).hex())
    sample_repo.write({"Dockerfile.real": "FROM busybox:latest\nCOPY --chmod=755 www /www\n" + SERVE})
    (sample_repo.path / "Dockerfile").unlink()
    (sample_repo.path / "Dockerfile").symlink_to(secret)
    sample_repo.commit("a Dockerfile that is a host file")
    failed = deploy(engine, unique("l"))
    assert failed.state == "failed" and failed.error is not None and "there is no Dockerfile" in failed.error
    assert secret.read_text() not in log_of(settings, failed.id)

    (sample_repo.path / "Dockerfile").unlink()
    sample_repo.write({"Dockerfile": "FROM busybox:latest\nCOPY --chmod=755 www /www\n" + SERVE,
                       "www/cgi-bin/check.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                                                "echo \"leak=$(cat /www/leak 2>/dev/null || echo none)\"\n"})
    (sample_repo.path / "www" / "leak").symlink_to(secret)
    sample_repo.commit("a file that links to the host")
    stack = unique("l")
    succeeded(deploy(engine, stack))
    assert check_page(settings, stack) == {"leak": "none"}  # the link, dangling in the image
