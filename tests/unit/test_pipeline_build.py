"""The build step (stacks/build.py) on the fakes: what reaches BuildKit (target, args, secrets,
cache sources), and what is refused before any build starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks import pipeline
from stacks.config import AppConfig, BuildSecret
from stacks.docker_adapter import BuildRequest
from stacks.errors import ConfigError, SpecError
from tests.fakes.world import APP, World

SECRET_DOCKERFILE = "FROM busybox:latest\nRUN --mount=type=secret,id=npm_token cat /run/secrets/npm_token\n"


def with_secret(new_world: Callable[..., World], **source: str) -> World:
    world = new_world()
    app = world.settings.apps[APP]
    apps = {APP: AppConfig(repo=app.repo, default=True, build_secrets={"npm_token": BuildSecret(**source)})}
    world.settings = world.settings.model_copy(update={"apps": apps})
    return world


def test_target_args_and_labels_reach_buildkit(world: World) -> None:
    world.repo.commit("main", {".yadockeri.yml": "build: {target: app, args: {NODE: 20.10}}\nprocesses: {web: {}}\n"})
    job = world.job()
    pipeline.run_deploy(job)
    (build,) = world.swarm.builds
    assert (build.request.target, build.request.args, build.request.secrets) == ("app", {"NODE": "20.10"}, {})
    assert build.request.cache_from == () and not build.request.inline_cache  # no registry: the builder's own cache
    log = (world.settings.data_dir / "logs" / f"{job.deployment.id}.log").read_text()
    assert "build args: NODE=20.10" in log


def test_a_secret_reaches_the_build_as_a_private_file_that_is_gone_afterwards(
        new_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIT_NPM_TOKEN", "s3cret-value-123")
    world = with_secret(new_world, env="UNIT_NPM_TOKEN")
    world.repo.commit("main", {"Dockerfile": SECRET_DOCKERFILE})
    seen: dict[str, tuple[str, int]] = {}
    real_build = world.swarm.buildkit_build

    def spy(request: BuildRequest, **kwargs: Any) -> str:  # the file as BuildKit would read it
        for secret, path in request.secrets.items():
            seen[secret] = (Path(path).read_text(), Path(path).stat().st_mode & 0o777)
        return real_build(request, **kwargs)

    monkeypatch.setattr(world.swarm, "buildkit_build", spy)
    pipeline.run_deploy(world.job())
    assert seen == {"npm_token": ("s3cret-value-123", 0o600)}
    (build,) = world.swarm.builds
    assert not Path(build.request.secrets["npm_token"]).exists()
    assert all("s3cret-value-123" not in arg for arg in build.request.args.values())


@pytest.mark.parametrize(("dockerfile", "error", "message"), [
    (SECRET_DOCKERFILE, SpecError, "mounts the build secret `npm_token`, which app"),
    ("# syntax=evil/frontend\nFROM busybox:latest\n", SpecError, "names a Dockerfile frontend this yadockeri does not run"),
])
def test_refused_before_any_build(world: World, dockerfile: str, error: type[Exception], message: str) -> None:
    world.repo.commit("main", {"Dockerfile": dockerfile})
    job = world.job()
    with pytest.raises(error, match=message):
        pipeline.run_deploy(job)
    assert ("build", "failed") in world.steps(job.deployment.id) and world.swarm.builds == []


def test_a_secret_yadockeri_does_not_have_is_said_by_name(new_world: Callable[..., World]) -> None:
    world = with_secret(new_world, env="UNIT_NO_SUCH_VARIABLE")
    world.repo.commit("main", {"Dockerfile": SECRET_DOCKERFILE})
    with pytest.raises(ConfigError, match="`npm_token` of app .* environment variable UNIT_NO_SUCH_VARIABLE"):
        pipeline.run_deploy(world.job())
    assert world.swarm.builds == []


def test_with_a_registry_the_apps_recent_images_are_cache_sources(new_world: Callable[..., World]) -> None:
    world = new_world(registry="registry.test:5000")
    pipeline.run_deploy(world.job("first"))
    first = world.store.require_stack("first").image
    for deployment in world.store.deployments("first"):  # the runner marks success; here by hand
        world.store.finish_deployment(deployment.id, "succeeded")
    world.repo.commit("feature", {"www/content.txt": "feature"}, start="main")
    pipeline.run_deploy(world.job("second", branch="feature"))
    second = world.swarm.builds[-1].request
    assert second.inline_cache and second.cache_from == (first,)


def test_a_registry_that_needs_a_login_is_no_cache_source(new_world: Callable[..., World]) -> None:
    """Builds never get yadockeri's registry login: BuildKit could not read the cache there."""
    world = new_world(registry="registry.test:5000", registry_username="yadockeri")
    pipeline.run_deploy(world.job("first"))
    assert world.swarm.builds[-1].request.cache_from == () and world.swarm.builds[-1].request.inline_cache
