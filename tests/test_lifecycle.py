"""Health checks, middleware readiness and the lifecycle hooks, on the real engine, router and
swarm, seen from the stack's side: what the router serves, and what a middleware service inside
the stack was told (a counter every hook calls).

- A web whose `/` answers 500 deploys with a health check on another path; a redeploy whose
  health path answers 500 fails, and yadockeri rolls it back: the previous version serves.
- A release command that needs a slow middleware succeeds because its healthcheck was waited for.
- postdeploy runs once over a deploy killed mid-postdeploy, a restart, a redeploy and an env
  change; predestroy runs before a destroy and before a reap, while the middleware still runs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from stacks.config import Settings
from stacks.docker_adapter.labels import HASH_LABEL
from stacks.engine import Engine
from stacks.scheduler import Scheduler
from stacks.secrets import load_fernet
from stacks.store import Store
from tests.conftest import unique
from tests.support.helpers import ADMIN, deploy, redeploy, succeeded, through_router, wait_until
from tests.support.infra import env_for_cli, purge
from tests.support.sample_app import SampleRepo

pytestmark = pytest.mark.swarm

RAW_CGI = """\
#!/bin/sh
# A raw answer: busybox httpd sends a CGI's output as it is when it starts with HTTP/.
printf 'HTTP/1.1 {status}\\r\\nContent-Type: text/plain\\r\\nConnection: close\\r\\n\\r\\n{body}\\n'
"""
HEALTH_DOCKERFILE = """\
FROM busybox:latest
COPY www /www
RUN chmod +x /www/cgi-bin/*.cgi
CMD ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
"""
HEALTH_SPEC = """\
processes:
  web: {command: "exec httpd -f -v -p $PORT -h /www", healthcheck: {path: /cgi-bin/up.cgi, timeout: 10s}}
"""
COUNTER_FILES = {
    # Every hook calls hit.cgi?<hook>; count.cgi says who called, one line each.
    "srv/cgi-bin/hit.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                           "echo \"$QUERY_STRING\" >> /tmp/hits\ncat /tmp/hits\n",
    "srv/cgi-bin/count.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n"
                             "cat /tmp/hits 2>/dev/null | tr '\\n' ' '\n",
    "Dockerfile": "FROM busybox:latest\nCOPY srv /srv\nRUN chmod +x /srv/cgi-bin/*.cgi\n"
                  'CMD ["httpd", "-f", "-p", "8000", "-h", "/srv"]\n',
}
HOOKS_SPEC = """\
processes:
  web: {command: "exec httpd -f -v -p $PORT -h /www"}
services: middleware.yml
env:
  MIDDLEWARE_URL: http://counter:8000/cgi-bin/count.cgi
postdeploy: "wget -q -O - http://counter:8000/cgi-bin/hit.cgi?postdeploy && echo seeded-by-postdeploy && sleep 4"
predestroy: "wget -q -O - http://counter:8000/cgi-bin/hit.cgi?predestroy && echo bye-from-$YADOCKERI_STACK"
"""


@pytest.fixture
def counter_image(docker_client: docker.DockerClient, tmp_path: Path) -> Iterator[str]:
    """A middleware image (not one yadockeri built) that counts who called it."""
    folder = tmp_path / "counter"
    for name, text in COUNTER_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    tag = f"yadockeri-test/counter:{unique('c')}"
    docker_client.images.build(path=str(folder), tag=tag, network_mode="none", rm=True)
    yield tag
    try:
        docker_client.images.remove(tag, force=True)
    except docker.errors.APIError:
        pass  # still used by a lingering container: the image prune of a later run takes it


def middleware(image: str, *, slow: bool = False) -> str:
    """The counter as a compose service; `slow`: it listens only after 5 s, and says so by its healthcheck."""
    command = '["sh", "-c", "sleep 5; exec httpd -f -p 8000 -h /srv"]' if slow else '["httpd", "-f", "-p", "8000", "-h", "/srv"]'
    probe = '["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/cgi-bin/count.cgi"]'
    return (f"services:\n  counter:\n    image: {image}\n    command: {command}\n"
            f"    healthcheck: {{test: {probe}, interval: 1s, timeout: 2s, retries: 30}}\n")


def log_of(settings: Settings, deployment_id: int) -> str:
    return (settings.data_dir / "logs" / f"{deployment_id}.log").read_text()


def all_logs(settings: Settings) -> str:
    return "\n".join(p.read_text() for p in sorted((settings.data_dir / "logs").glob("*.log")))


# Health check -----------------------------------------------------------------------------------
def test_a_health_checked_web_deploys_and_an_unhealthy_redeploy_is_rolled_back(
        engine: Engine, settings: Settings, sample_repo: SampleRepo, docker_client: docker.DockerClient) -> None:
    sample_repo.write({
        "Dockerfile": HEALTH_DOCKERFILE, ".yadockeri.yml": HEALTH_SPEC,
        "www/cgi-bin/index.cgi": RAW_CGI.format(status="500 Internal Server Error", body="the home page is broken"),
        "www/cgi-bin/up.cgi": RAW_CGI.format(status="200 OK", body="up v1"),
    })
    sample_repo.commit("v1: / answers 500, the health path 200")
    stack = unique("h")
    first = succeeded(deploy(engine, stack))
    wait_step = next(s for s in first.steps if s.name == "wait")
    assert (wait_step.state, wait_step.detail) == ("ok", "web answered /cgi-bin/up.cgi with 200 through the router")
    assert through_router(settings, stack).status_code == 500  # a page may fail: the health path decides
    v1_hash = docker_client.api.inspect_service(f"{stack}_web")["Spec"]["Labels"][HASH_LABEL]

    sample_repo.write({"www/cgi-bin/up.cgi": RAW_CGI.format(status="500 Internal Server Error",
                                                            body="database unreachable")})
    v2 = sample_repo.commit("v2: the health path answers 500")
    failed = redeploy(engine, stack)
    assert failed.state == "failed" and failed.error is not None
    assert failed.error.startswith(f"{stack}_web is not healthy: /cgi-bin/up.cgi did not answer 2xx or 3xx within 10s "
                                   "(/cgi-bin/up.cgi answered 500: database unreachable); yadockeri rolled back")
    assert [(s.name, s.state) for s in failed.steps][-2:] == [("wait", "failed"), ("rollback", "ok")]
    # From outside: the previous version serves, and swarm runs its spec again.
    answer = through_router(settings, stack, path="/cgi-bin/up.cgi")
    assert (answer.status_code, answer.text.strip()) == (200, "up v1")
    web = docker_client.api.inspect_service(f"{stack}_web")
    assert web["Spec"]["Labels"][HASH_LABEL] == v1_hash
    assert web["UpdateStatus"]["State"] == "rollback_completed"
    record = engine.store.require_stack(stack)
    assert record.state == "running" and record.commit != v2


def test_a_health_path_aimed_at_the_routers_own_pages_is_only_ever_the_apps(
        engine: Engine, settings: Settings, sample_repo: SampleRepo) -> None:
    """As an attacker: a branch names the router's own health page (answered 200 on other hosts)
    as its health check. yadockeri asks it on the stack's host, so only the app answers (busybox:
    404), and the deploy fails; from the host, the stack's host never shows the router's page."""
    sample_repo.write({".yadockeri.yml": ('processes:\n  web: {command: "exec httpd -f -v -p $PORT -h /www", '
                                          'healthcheck: {path: "/_router/health", timeout: 3s}}\n')})
    sample_repo.commit("a health path that is the router's")
    stack = unique("h")
    failed = deploy(engine, stack)
    assert failed.state == "failed" and failed.error is not None
    assert failed.error.startswith(f"{stack}_web is not healthy: /_router/health did not answer 2xx or 3xx within 3s "
                                   "(/_router/health answered 404")
    answer = through_router(settings, stack, path="/_router/health")
    assert answer.headers.get("X-Yadockeri-Page") != "health"


# Middleware readiness ---------------------------------------------------------------------------
def test_a_release_needing_a_slow_middleware_waits_for_its_healthcheck(
        engine: Engine, settings: Settings, sample_repo: SampleRepo, counter_image: str) -> None:
    sample_repo.write({
        "middleware.yml": middleware(counter_image, slow=True),
        ".yadockeri.yml": ("processes:\n  web: {command: \"exec httpd -f -v -p $PORT -h /www\"}\n"
                           "services: middleware.yml\n"
                           # No retry: this fails if the middleware does not answer at once.
                           "release: \"wget -q -O - http://counter:8000/cgi-bin/hit.cgi?release\"\n"),
    })
    sample_repo.commit("a release that needs the middleware")
    stack = unique("m")
    record = succeeded(deploy(engine, stack))
    ready = next(s for s in record.steps if s.name == "ready")
    assert ready.detail == "counter healthy" and ready.seconds is not None and ready.seconds >= 3
    names = [s.name for s in record.steps]
    assert names.index("ready") < names.index("release") < names.index("processes")
    assert "release: release" in log_of(settings, record.id)  # the counter answered the release


# Hooks ------------------------------------------------------------------------------------------
def test_postdeploy_runs_once_across_a_kill_a_redeploy_and_an_env_change_and_predestroy_before_destroy(
        settings: Settings, sample_repo: SampleRepo, counter_image: str, tmp_path: Path,
        docker_client: docker.DockerClient) -> None:
    sample_repo.write({"middleware.yml": middleware(counter_image), ".yadockeri.yml": HOOKS_SPEC})
    sample_repo.commit("hooks")
    stack = unique("p")
    # yadockeri (the command line) is killed while the first deploy's postdeploy runs.
    process = subprocess.Popen([sys.executable, "-m", "yadockeri", "deploy", stack, "main"],
                               env=env_for_cli(settings, tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine: Engine | None = None
    try:
        wait_until(lambda: running_step(settings, stack) == "postdeploy", timeout=180, what="the postdeploy step")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        # The stack's own view: its counter was called once, by the postdeploy task that outlived yadockeri.
        wait_until(lambda: "postdeploy" in hits(settings, stack), timeout=30, what="the postdeploy's call")

        engine = Engine(settings)
        engine.start()  # the restart: the killed deploy is marked interrupted
        assert engine.store.deployments(stack)[0].state == "interrupted"
        succeeded(redeploy(engine, stack))
        sample_repo.write({"www/content.txt": "main-2"})
        sample_repo.commit("a new commit")
        succeeded(redeploy(engine, stack))
        keys, job = engine.change_env(stack, {"GREETING": "hello"}, [], ADMIN)
        assert job is not None
        succeeded(job.wait(120))
        assert through_router(settings, stack).text.count("greeting=hello") == 1
        assert hits(settings, stack) == "postdeploy"  # exactly once, seen from inside the stack
        assert all_logs(settings).count("seeded-by-postdeploy") == 0  # the killed run's output was never read

        destroyed = succeeded(engine.destroy(stack, ADMIN).wait(120))
        assert [s.name for s in destroyed.steps][0] == "predestroy"
        log = log_of(settings, destroyed.id)
        assert f"predestroy: bye-from-{stack}" in log
        # The predestroy reached the middleware before anything was removed: the counter's answer.
        assert "predestroy: postdeploy" in log and "predestroy: predestroy" in log
        assert docker_client.api.services(filters={"label": f"yadockeri.stack={stack}"}) == []
    finally:
        if process.poll() is None:
            process.kill()
        if engine is not None:
            engine.close()
        purge(docker_client, stack)


def test_predestroy_runs_before_a_reap(make_settings: Callable[..., Settings], sample_repo: SampleRepo,
                                       counter_image: str, docker_client: docker.DockerClient) -> None:
    sample_repo.write({"middleware.yml": middleware(counter_image), ".yadockeri.yml": HOOKS_SPEC.replace(" && sleep 4", "")})
    sample_repo.commit("hooks")
    settings = make_settings(sleep_after=3600, reap_after=2, reap_warning=2)
    engine = Engine(settings)
    engine.start()
    stack = unique("r")
    scheduler: Scheduler | None = None
    try:
        succeeded(deploy(engine, stack))
        scheduler = Scheduler(engine).start()
        wait_until(lambda: engine.store.get_stack(stack) is None, timeout=120, what="the reap")
        log = all_logs(settings)
        assert f"predestroy: bye-from-{stack}" in log and "predestroy: predestroy" in log
        reaps = [e for e in engine.store.events(stack) if e.action == "destroy" and e.actor == "scheduler"]
        assert reaps
    finally:
        if scheduler is not None:
            scheduler.stop()
        engine.close()
        purge(docker_client, stack)


def running_step(settings: Settings, stack: str) -> str | None:
    if not (settings.data_dir / "yadockeri.db").exists():
        return None
    store = Store(settings.db_url, load_fernet(None, settings.data_dir))
    try:
        deployments = store.deployments(stack) if store.get_stack(stack) else []
        steps = [s for d in deployments[:1] for s in d.steps if s.ended_at is None]
        return steps[-1].name if steps else None
    finally:
        store.close()


def hits(settings: Settings, stack: str) -> str:
    """Who called the stack's counter, as its web page shows it."""
    for line in through_router(settings, stack).text.splitlines():
        if line.startswith("middleware="):
            return line.split("=", 1)[1].strip()
    return ""
