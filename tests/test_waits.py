"""The wait for a rollout, as pure logic: a service's tasks -> its progress, and the loop with
tasks and the router's answers scripted (the real swarm and router: test_deploy.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stacks import waits
from stacks.docker_adapter.labels import HASH_LABEL
from stacks.errors import DeployFailed

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
NET = "yadockeri-router"


def task(hash_: str, state: str = "running", desired: str = "running", *, age: float = 5.0,
         address: str | None = "10.1.0.5") -> dict:
    stamp = (NOW - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"  # Docker's nanoseconds
    attachments = [{"Network": {"Spec": {"Name": NET}}, "Addresses": [f"{address}/16"]}] if address else []
    return {"Spec": {"ContainerSpec": {"Labels": {HASH_LABEL: hash_}}}, "DesiredState": desired,
            "Status": {"State": state, "Timestamp": stamp}, "NetworksAttachments": attachments}


def progress(tasks: list[dict], *, settle: float = 0.0, update: dict | None = None) -> waits.Progress:
    return waits.progress(tasks, want_hash="new", replicas=1, update=update or {}, settle=settle,
                          router_network=NET, now=NOW)


def test_a_running_new_task_is_ready_with_its_router_address() -> None:
    assert progress([task("new")]) == waits.Progress(True, None, frozenset({"10.1.0.5"}))


def test_an_old_task_still_wanted_keeps_it_waiting_and_is_reported_in_dns() -> None:
    state = progress([task("new"), task("old", address="10.1.0.4")])
    assert not state.ready and state.old_wanted and state.addresses == frozenset({"10.1.0.5"})


def test_an_old_task_told_to_stop_has_left_dns_although_it_still_runs() -> None:
    state = progress([task("new"), task("old", "running", "shutdown")])
    assert state.ready and not state.old_wanted


def test_a_new_task_must_have_run_its_settle_time() -> None:
    assert not progress([task("new", age=0.3)], settle=1.0).ready
    assert progress([task("new", age=1.5)], settle=1.0).ready


def test_a_new_task_that_keeps_exiting_fails_at_once() -> None:
    state = progress([task("new", "failed", "shutdown"), task("new", "failed", "shutdown"), task("new", "starting")])
    assert state.failure == "keeps exiting"


def test_a_new_task_left_in_state_new_has_no_address_and_fails_within_seconds() -> None:
    """Swarm leaves a task `new`, without a word, when one of its networks has no address left."""
    assert progress([task("new", "new", age=1.0, address=None)]).failure is None  # allocation takes a moment
    assert progress([task("new", "new", age=waits.STUCK_AFTER + 0.1, address=None)]).failure == waits.NO_ADDRESS


def test_a_task_no_node_can_take_fails_with_dockers_reason() -> None:
    pending = task("new", "pending", age=waits.STUCK_AFTER + 0.1, address=None)
    pending["Status"]["Err"] = "no suitable node (insufficient resources on 1 node)"
    assert progress([pending]).failure == ("cannot be placed on any node: ask for less cpus or memory, "
                                           "or an admin adds a node")  # the pipeline adds Docker's words
    del pending["Status"]["Err"]
    assert progress([pending]).failure is None  # pending without a reason: still being placed


def test_rejected_tasks_are_not_said_to_exit() -> None:
    rejected = [task("new", "rejected", "shutdown", address=None) for _ in range(2)]
    for t in rejected:
        t["Status"]["Err"] = "No such image: shop:abc"
    assert progress(rejected).failure == "was rejected by Docker"
    for t in rejected:
        t["Status"]["Err"] = "node is missing network attachments, ip addresses may be exhausted"
    assert progress(rejected).failure == waits.NO_ADDRESS


def test_a_rollback_by_swarm_is_a_failure_with_its_message() -> None:
    state = progress([task("new")], update={"State": "rollback_started", "Message": "update rolled back due to failure"})
    assert state.failure == "was rolled back: update rolled back due to failure"


def test_answering_address_is_the_last_upstream_nginx_tried() -> None:
    assert waits.answering_address("10.1.0.4:8080, 10.1.0.5:8080") == "10.1.0.5"
    assert waits.answering_address("10.1.0.5:8080") == "10.1.0.5"


class ScriptedRouter:
    """Stands in for RouterCheck: answers from the given address, its DNS cache holds `cached`
    (the answering address by default), counting the asks."""

    def __init__(self, address: str | None, status: int | None = 200, cached: set[str] | None = None) -> None:
        self.address, self.status, self.asked = address, status, 0
        self.paths: list[str] = []
        self.cached = frozenset(cached if cached is not None else {address} if address else set())

    def resolved(self, stack: str) -> tuple[frozenset[str] | None, str]:
        assert stack == "s"
        return (self.cached if self.status is not None else None), "scripted"

    def ask(self, path: str = "/") -> tuple[int | None, str | None, str]:
        self.asked += 1
        self.paths.append(path)
        return self.status, self.address, f"{path} answered {self.status}: scripted"



def run(tasks_by_service: dict[str, list[dict]], router: ScriptedRouter, *, timeout: float = 2.0,
        health: waits.Health | None = None) -> waits.Live:
    watched = [waits.Watched(name, "new", 1, 0.0) for name in tasks_by_service]
    tasks = {name: [dict(t, Status=dict(t["Status"], Timestamp="")) for t in ts] for name, ts in tasks_by_service.items()}
    return waits.wait_live(stack="s", services=watched, web="s_web", middleware=[],
                           check=router,  # type: ignore[arg-type]  # ScriptedRouter stands in for RouterCheck
                           tasks=lambda name: tasks[name], update_of=lambda name: {}, router_network=NET,
                           timeout=timeout, fail=lambda service, why: DeployFailed(f"{service} {why}"), health=health)


def test_a_task_left_new_fails_only_when_its_network_is_confirmed_full() -> None:
    stuck = task("new", "new", age=waits.STUCK_AFTER + 1, address=None)
    watched = [waits.Watched("s_web", "new", 1, 0.0)]
    asked: list[str] = []

    def no_address_left(service: str, full: bool) -> str | None:
        asked.append(service)
        return "" if full else None

    def wait(full: bool) -> None:
        waits.wait_live(stack="s", services=watched, web="s_web", middleware=[],
                        check=ScriptedRouter(None),  # type: ignore[arg-type]
                        tasks=lambda name: [stuck], update_of=lambda name: {}, router_network=NET, timeout=0.3,
                        fail=lambda service, why: DeployFailed(f"{service} {why}"),
                        no_address_left=lambda service: no_address_left(service, full))

    with pytest.raises(DeployFailed, match=f"s_web {waits.NO_ADDRESS}$"):
        wait(True)
    with pytest.raises(DeployFailed, match="s_web did not get ready within 0s"):  # allocation slow: waits on
        wait(False)
    assert set(asked) == {"s_web"}


def test_live_when_the_router_answers_from_a_new_task() -> None:
    router = ScriptedRouter("10.1.0.5")
    assert run({"s_web": [task("new")]}, router) == waits.Live("web answered 200 through the router")
    assert router.asked == 1


def test_an_answer_from_another_address_is_not_live() -> None:
    with pytest.raises(DeployFailed, match="s_web did not get ready"):
        run({"s_web": [task("new")]}, ScriptedRouter("10.1.0.99"), timeout=0.3)


def test_the_router_is_not_asked_while_an_old_web_task_is_in_dns() -> None:
    router = ScriptedRouter("10.1.0.5")
    with pytest.raises(DeployFailed):
        run({"s_web": [task("new"), task("old", address="10.1.0.4")]}, router, timeout=0.3)
    assert router.asked == 0


def test_not_live_while_the_routers_dns_cache_holds_an_old_task() -> None:
    router = ScriptedRouter("10.1.0.5", cached={"10.1.0.4", "10.1.0.5"})
    with pytest.raises(DeployFailed, match="s_web did not get ready"):
        run({"s_web": [task("new"), task("old", "running", "shutdown")]}, router, timeout=0.3)
    assert router.asked == 0
    router.cached = frozenset({"10.1.0.5"})  # the cache expired: new tasks only
    assert run({"s_web": [task("new")]}, router).detail == "web answered 200 through the router"


def test_without_a_health_check_any_answer_is_live_but_a_500_is_a_warning() -> None:
    live = run({"s_web": [task("new")]}, ScriptedRouter("10.1.0.5", status=500))
    assert live == waits.Live("web answered 500 through the router", "the web answered / answered 500: scripted")
    assert run({"s_web": [task("new")]}, ScriptedRouter("10.1.0.5", status=404)).warning is None


def test_with_a_health_check_its_path_must_answer_2xx_or_3xx() -> None:
    router = ScriptedRouter("10.1.0.5", status=302)
    live = run({"s_web": [task("new")]}, router, health=waits.Health("/up", 5))
    assert live == waits.Live("web answered /up with 302 through the router")
    assert router.paths == ["/up"]


def test_a_health_check_answered_500_fails_at_its_timeout_with_the_answer() -> None:
    router = ScriptedRouter("10.1.0.5", status=500)
    with pytest.raises(DeployFailed) as error:
        run({"s_web": [task("new")]}, router, health=waits.Health("/up", 0.3), timeout=5)
    assert str(error.value) == ("s_web is not healthy: /up did not answer 2xx or 3xx within 0.3s "
                                "(/up answered 500: scripted)")
    assert router.asked > 1  # asked again until the timeout: an app may answer 503 while it boots


def test_a_health_check_turns_healthy_within_its_timeout() -> None:
    router = ScriptedRouter("10.1.0.5", status=503)
    statuses = iter([503, 503, 200])

    def ask(path: str = "/") -> tuple[int | None, str | None, str]:
        router.status = next(statuses, 200)
        return ScriptedRouter.ask(router, path)

    router.ask = ask  # type: ignore[method-assign]  # a web that boots
    assert run({"s_web": [task("new")]}, router, health=waits.Health("/up", 5)).detail == \
        "web answered /up with 200 through the router"


def test_tried_addresses_of_the_resolve_check() -> None:
    assert waits.tried_addresses("10.1.0.4:1, 10.1.0.5:1") == {"10.1.0.4", "10.1.0.5"}
    assert waits.tried_addresses("10.1.0.4:1 : 10.1.0.5:1") == {"10.1.0.4", "10.1.0.5"}
    assert waits.tried_addresses("") == frozenset()


def test_a_router_that_never_answers_fails_after_its_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waits, "ROUTER_GRACE", 0.2)
    with pytest.raises(DeployFailed, match="router does not answer"):
        run({"s_web": [task("new")]}, ScriptedRouter(None, None), timeout=5)
