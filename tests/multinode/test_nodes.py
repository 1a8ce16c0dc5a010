"""Several nodes: a separate two-node swarm (a worker and a manager, each dockerd in its own
network namespace) with a real registry (Debian's docker-registry, TLS and a login)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from stacks.config import Settings
from stacks.engine import Engine
from stacks.errors import YadockeriError
from tests.conftest import unique
from tests.multinode.conftest import BuiltImage, cluster_settings, wait_for
from tests.support.helpers import ADMIN, deploy, redeploy, succeeded
from tests.support.multinode import BUILDER_URL, WORKER, Cluster
from tests.support.sample_app import SampleRepo

pytestmark = [pytest.mark.swarm, pytest.mark.slow]
NO_REGISTRY: dict[str, Any] = {"registry": None, "registry_username": None, "registry_password": None}


def page(settings: Settings, stack: str) -> dict[str, str]:
    response = requests.get(settings.router_check_url + "/", headers={"Host": f"{stack}.{settings.domains[0]}"}, timeout=15)
    assert response.status_code == 200, (response.status_code, response.headers, response.text[:300])
    return dict(line.split("=", 1) for line in response.text.splitlines() if "=" in line)


def running_on(engine: Engine, service: str) -> set[str]:
    return {t["NodeID"] for t in engine.swarm.tasks(service)
            if t["Status"]["State"] == "running" and t["DesiredState"] == "running"}


REFUSALS: dict[str, tuple[dict[str, Any], list[str]]] = {  # what a deploy is refused for -> (settings, what the message must say)
    "several nodes, no registry": (dict(NO_REGISTRY), ["2 nodes", "YADOCKERI_REGISTRY"]),
    "a builder, no registry": ({**NO_REGISTRY, "builder": WORKER.docker_host},
                               ["no registry is set", "YADOCKERI_BUILDER", "YADOCKERI_REGISTRY"]),
    "a builder out of reach": ({"builder": "unix:///run/yadockeri-no-such-builder.sock"},
                               ["cannot reach the builder", "YADOCKERI_BUILDER"]),
    "a TLS builder, no certificate": ({"builder": BUILDER_URL}, ["cannot reach the builder", "YADOCKERI_BUILDER"]),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_deploy_that_could_not_get_its_image_to_the_nodes_is_refused_before_anything_is_recorded(
        cluster: Cluster, cluster_router: Settings, tmp_path, case: str) -> None:
    from stacks.config import AppConfig

    values, expected = REFUSALS[case]
    repo = SampleRepo(tmp_path / "app")
    settings = cluster_settings(cluster, tmp_path / "data", apps={unique("a"): AppConfig(repo=str(repo.path))}, **values)
    engine = Engine(settings, docker_host=cluster.manager.docker_host)
    engine.start()
    try:
        stack = unique("s")
        with pytest.raises(YadockeriError) as refused:
            engine.deploy(stack, "main", ADMIN)
        assert all(words in str(refused.value) for words in expected), str(refused.value)
        assert engine.store.get_stack(stack) is None  # nothing recorded
        assert engine.swarm.services(**{"yadockeri.stack": stack}) == []
    finally:
        engine.close()


def test_web_on_the_worker_is_reached_through_the_router_then_moves_when_the_worker_drains(
        cluster: Cluster, mn_engine: tuple[Engine, Settings, SampleRepo]) -> None:
    engine, settings, repo = mn_engine
    worker, manager = cluster.node_ids["worker"], cluster.node_ids["manager"]
    stack = unique("s")
    cluster.set_availability("manager", "pause")  # new tasks must go to the worker
    first = succeeded(deploy(engine, stack))
    assert first.image is not None
    web = f"{stack}_web"
    assert running_on(engine, web) == {worker}
    assert first.image.startswith(f"{cluster.registry}/yadockeri/")  # built here, pulled there (with the login)
    assert cluster.registry_has(first.image)
    # The router's task on the manager reaches the web task on the worker over the overlay network.
    assert page(settings, stack)["content"] == "main-1"

    cluster.set_availability("manager", "active")
    cluster.set_availability("worker", "drain")
    wait_for(lambda: running_on(engine, web) == {manager}, 120, "web moved to the manager")
    wait_for(lambda: _answers(settings, stack), 60, "web answers again through the router")
    assert page(settings, stack)["content"] == "main-1"

    cluster.set_availability("worker", "active")
    repo.write({"www/content.txt": "main-2"})
    repo.commit("second")
    second = succeeded(redeploy(engine, stack))
    assert second.image is not None
    assert second.image != first.image and cluster.registry_has(second.image)

    succeeded(engine.destroy(stack, ADMIN).wait(240))
    assert not cluster.registry_has(first.image) and not cluster.registry_has(second.image)
    (app,) = settings.apps
    assert cluster.registry_tags(f"yadockeri/{app}") == []


def _answers(settings: Settings, stack: str) -> bool:
    try:
        return page(settings, stack).get("content") == "main-1"
    except (AssertionError, requests.RequestException):
        return False


def middleware_files(image: str) -> dict[str, str]:
    """A web process and a `cache` middleware with a volume; the page shows what the cache serves:
    the host name of the container that first wrote its volume."""
    return {
        ".yadockeri.yml": (
            "processes:\n"
            "  web: {command: 'exec httpd -f -v -p $PORT -h /www'}\n"
            "services: compose.yml\n"
            "env: {MIDDLEWARE_URL: 'http://cache:8080/'}\n"
        ),
        "compose.yml": (
            "version: '3.8'\n"
            "services:\n"
            "  cache:\n"
            f"    image: {image}\n"
            "    command: [sh, -c, 'test -f /data/first || hostname > /data/first;"
            " mkdir -p /srv && cat /data/first > /srv/index.html && exec httpd -f -p 8080 -h /srv']\n"
            "    volumes: ['cachedata:/data']\n"
            "volumes:\n"
            "  cachedata: {}\n"
        ),
    }


def pushed(engine: Engine, cluster: Cluster, built: BuiltImage) -> str:
    """The yadockeri image in the registry (as install puts it), for jobs on other nodes."""
    image = f"{cluster.registry}/yadockeri/yadockeri:{built.image_id.split(':')[1][:16]}"
    engine.swarm.api.tag(built.image_id, image.rsplit(":", 1)[0], image.rsplit(":", 1)[1])
    engine.swarm.push(image, lambda line: None)
    return image


def test_middleware_with_a_volume_stays_on_its_node_and_its_volume_goes_with_destroy(
        cluster: Cluster, mn_engine: tuple[Engine, Settings, SampleRepo], yadockeri_image: BuiltImage) -> None:
    engine, settings, repo = mn_engine
    # The volume job runs the yadockeri image on the worker: it pulls it from the registry.
    engine.settings = settings = settings.model_copy(update={"image": pushed(engine, cluster, yadockeri_image)})
    # Middleware images are other people's (Docker Hub's, usually): never from yadockeri's own
    # registry. No hub here: the worker gets busybox loaded into its image store.
    busybox = "busybox:latest"
    cluster.load_images((busybox,), WORKER)
    repo.write(middleware_files(busybox))
    repo.commit("with middleware")

    worker, manager = cluster.node_ids["worker"], cluster.node_ids["manager"]
    stack = unique("v")
    cluster.set_availability("manager", "pause")
    succeeded(deploy(engine, stack))
    assert engine.store.require_stack(stack).node == worker  # chosen at the first deploy
    assert running_on(engine, f"{stack}_cache") == {worker}
    first_host = page(settings, stack)["middleware"]
    assert cluster.volumes_on(WORKER, f"yadockeri.stack={stack}") == [f"{stack}_cachedata"]

    # The manager takes tasks again; a changed compose file redeploys the middleware: it stays.
    cluster.set_availability("manager", "active")
    repo.write({"compose.yml": repo.path.joinpath("compose.yml").read_text().replace(
        "    volumes:", "    environment: {CHANGED: 'yes'}\n    volumes:")})
    repo.commit("middleware changed")
    second = succeeded(redeploy(engine, stack))
    assert second.steps and {s.name: s.state for s in second.steps}["middleware"] == "ok"
    assert engine.store.require_stack(stack).node == worker
    wait_for(lambda: running_on(engine, f"{stack}_cache") == {worker}, 60, "middleware on the worker")
    cache = engine.swarm.service(f"{stack}_cache")
    assert cache is not None
    constraints = cache["Spec"]["TaskTemplate"]["Placement"]["Constraints"]
    assert f"node.id == {worker}" in constraints
    assert page(settings, stack)["middleware"] == first_host  # the same volume: its data is still there
    assert manager not in running_on(engine, f"{stack}_cache")

    destroyed = succeeded(engine.destroy(stack, ADMIN).wait(240))
    cleanup = {s.name: s.detail for s in destroyed.steps}["cleanup"]
    assert cleanup is not None and "1 volumes" in cleanup
    assert cluster.volumes_on(WORKER, f"yadockeri.stack={stack}") == []  # removed by a job on the worker
    assert engine.swarm.services(**{"yadockeri.cleanup": stack}) == []  # and the job is gone


def built_images(client, app: str) -> set[str]:
    return {tag for image in client.images.list(filters={"label": f"yadockeri.app={app}"}) for tag in image.tags}


def test_with_a_builder_images_are_built_there_pushed_and_cleaned_there(
        cluster: Cluster, cluster_router: Settings, tmp_path) -> None:
    """YADOCKERI_BUILDER: the worker's engine, reached over verified TLS, builds; the registry
    carries the image to the swarm; destroy and garbage collection remove it from the builder too."""
    from stacks.config import AppConfig

    cluster.load_images(("busybox:latest",), cluster.worker)  # the sample app's base, on the builder
    repo = SampleRepo(tmp_path / "app")
    app = unique("a")
    ca, cert, key = cluster.builder_tls
    settings = cluster_settings(cluster, tmp_path / "data", builder=BUILDER_URL, image_min_age=0,
                                builder_tls_ca=ca, builder_tls_cert=cert, builder_tls_key=key,
                                apps={app: AppConfig(repo=str(repo.path))})
    engine = Engine(settings, docker_host=cluster.manager.docker_host)
    engine.start()
    manager_client, worker_client = cluster.manager.client(), cluster.worker.client()
    stack = unique("s")
    try:
        cluster.set_availability("worker", "drain")  # tasks run on the manager, images come from the worker
        first = succeeded(deploy(engine, stack))
        assert first.image is not None
        assert built_images(worker_client, app) == {first.image} and cluster.registry_has(first.image)
        assert f"building on {BUILDER_URL}" in (settings.data_dir / "logs" / f"{first.id}.log").read_text()
        assert page(settings, stack)["content"] == "main-1"  # pulled by the manager from the registry

        repo.write({"www/content.txt": "main-2"})
        repo.commit("second")
        second = succeeded(redeploy(engine, stack))
        assert second.image is not None
        assert page(settings, stack)["content"] == "main-2"
        assert first.image in engine.collect_garbage()  # no stack runs it: gone from the builder too
        assert built_images(worker_client, app) == {second.image}
        assert not cluster.registry_has(first.image) and cluster.registry_has(second.image)

        succeeded(engine.destroy(stack, ADMIN).wait(240))
        assert built_images(worker_client, app) == set() and built_images(manager_client, app) == set()
        assert not cluster.registry_has(second.image)
    finally:
        cluster.set_availability("worker", "active")
        engine.close()
        for service in engine.swarm.services(**{"yadockeri.stack": stack}):
            engine.swarm.remove_service(service["ID"])


def test_garbage_collection_removes_the_images_other_nodes_pulled_and_keeps_what_runs(
        cluster: Cluster, mn_engine: tuple[Engine, Settings, SampleRepo], yadockeri_image: BuiltImage) -> None:
    engine, settings, repo = mn_engine
    engine.settings = settings.model_copy(update={"image": pushed(engine, cluster, yadockeri_image), "image_min_age": 0})
    (app,) = settings.apps
    worker_client = cluster.worker.client()
    stack = unique("s")
    cluster.set_availability("manager", "pause")  # the web tasks run on the worker, which pulls their images
    first = succeeded(deploy(engine, stack))
    assert first.image is not None
    repo.write({"www/content.txt": "main-2"})
    repo.commit("second")
    second = succeeded(redeploy(engine, stack))
    assert second.image is not None
    assert built_images(worker_client, app) == {first.image, second.image}  # the old task's container holds it
    wait_for(lambda: not worker_client.containers.list(filters={"ancestor": first.image}), 60,
             "the old task's container stopped")  # (a running one keeps its image until the next pass)

    removed = engine.collect_garbage()
    assert first.image in removed and second.image not in removed
    assert built_images(worker_client, app) == {second.image}  # removed by the global job on the worker
    assert not cluster.registry_has(first.image) and cluster.registry_has(second.image)
    assert engine.swarm.services(**{"yadockeri.role": "cleanup"}) == []  # the job is gone
    assert page(settings, stack)["content"] == "main-2"
    succeeded(engine.destroy(stack, ADMIN).wait(240))
