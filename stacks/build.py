"""The build step: a branch's Dockerfile built with BuildKit (stacks/docker_adapter/buildkit.py).

Before anything runs, the Dockerfile is read from git (stacks/dockerfile.py): a `# syntax=`
frontend must be allowed (YADOCKERI_BUILD_FRONTENDS) and every secret a RUN step mounts must be
one of the app's build_secrets (yadockeri.yml). Secrets reach the build only as BuildKit secret
files, private and removed afterwards; their values are redacted from the build log. The
context is a folder holding exactly the commit's tree, so `.dockerignore` applies.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .config import AppConfig
from .docker_adapter import BuildRequest
from .docker_adapter.labels import APP_LABEL, COMMIT_LABEL
from .dockerfile import check_frontend, check_secrets, read_needs
from .errors import ConfigError, SpecError
from .limits import parse_size
from .names import echo

if TYPE_CHECKING:
    from .pipeline import Job, Release


def build_image(job: Job, release: Release) -> None:
    with job.step("build") as s:
        builder = job.builder
        if builder.image_exists(release.image):
            if job.settings.registry:  # layers the registry has are not sent again: cheap, and sure
                builder.push(release.image, job.log)
            s.skip(f"image for {release.commit[:12]} exists; reused")
            return
        build = release.spec.build
        wanted = check_dockerfile(job, release)
        if job.settings.builder:
            job.log(f"building on {job.settings.builder}")
        if build.args:  # not secrets (those are build_secrets): shown, as the file says them
            job.log("build args: " + ", ".join(f"{key}={value}" for key, value in build.args.items()))
        max_context = parse_size(job.settings.max_context_bytes)
        with job.mirror.unpacked(release.commit, build.context, max_bytes=max_context) as folder, \
                secret_files(job.app_name, job.app, wanted) as (secrets, values):
            job.log.hide(values)
            request = BuildRequest(
                folder=folder, dockerfile=build.dockerfile, tag=release.image,
                labels={APP_LABEL: job.app_name, COMMIT_LABEL: release.commit}, target=build.target,
                args=dict(build.args), secrets=secrets, cache_from=cache_sources(job),
                inline_cache=bool(job.settings.registry))
            builder.buildkit_build(request, log_line=job.log, timeout=job.settings.build_timeout)
        if job.settings.registry:
            builder.push(release.image, job.log)
        s.detail = release.image


def check_dockerfile(job: Job, release: Release) -> frozenset[str]:
    """Refuse a foreign frontend or an undefined secret before the build starts; returns the
    secret ids the Dockerfile mounts."""
    build = release.spec.build
    path = posixpath.normpath(posixpath.join(build.context, build.dockerfile))
    text = job.mirror.read_file(release.commit, path, max_bytes=job.settings.max_spec_bytes)
    if text is None:
        raise SpecError(f"there is no Dockerfile at `{echo(path)}` (.yadockeri.yml build.dockerfile is relative "
                        "to build.context)")
    needs = read_needs(text, path=path)
    check_frontend(needs.frontend, job.settings.frontend_patterns, path=path)
    check_secrets(needs.secrets, set(job.app.build_secrets), app=job.app_name, path=path)
    return needs.secrets


def cache_sources(job: Job) -> tuple[str, ...]:
    """With a registry, the app's recent images: their layers (inline cache) may be reused by a
    build on any builder. Without one, the builder's own cache serves every branch. A build
    never gets yadockeri's registry login (a branch's FROM could then pull any image there), so
    only a registry builders may read without one can serve as a cache."""
    if not job.settings.registry or job.settings.registry_username:
        return ()
    return tuple(job.store.recent_images(job.app_name))


@contextmanager
def secret_files(app_name: str, app: AppConfig, wanted: frozenset[str]) -> Iterator[tuple[dict[str, Path], list[str]]]:
    """id -> a file holding the value, for the secrets the Dockerfile mounts (only those), and
    the values (to redact). Values from the environment are written to a private folder that
    is removed when the build ends; files are given as they are."""
    folder = Path(tempfile.mkdtemp(prefix="yadockeri-build-secrets-"))  # mode 700
    try:
        files: dict[str, Path] = {}
        values: list[str] = []
        for secret in sorted(wanted):
            source = app.build_secrets[secret]
            value = _value(app_name, secret, source.env, source.file)
            values.append(value)
            if source.file is not None:
                files[secret] = source.file
            else:
                files[secret] = _private_file(folder / secret, value)
        yield files, values
    finally:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


def _value(app_name: str, secret: str, env: str | None, file: Path | None) -> str:
    where = f"the build secret `{secret}` of app `{app_name}`"
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{where} comes from the environment variable {env}, which yadockeri does not have")
        return value
    assert file is not None
    try:
        return file.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise ConfigError(f"{where} comes from {file}, which yadockeri cannot read ({error.strerror})") from None


def _private_file(path: Path, value: str) -> Path:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
        handle.write(value)
    return path
