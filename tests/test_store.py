"""The store on a real database (SQLite, and PostgreSQL when YADOCKERI_TEST_POSTGRES_URL is set):
built by the migrations, env encrypted at rest, locks and leases exclusive across stores."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from stacks.config import AppConfig
from stacks.errors import NotFound, PermissionDenied, YadockeriError
from stacks.models import utcnow
from stacks.store import DeploymentRecord, Store

KEY = Fernet(Fernet.generate_key())


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = Store(db_url, KEY)
    store.sync_apps({"app": AppConfig(repo="/srv/app.git", branch="main", default=True)})
    yield store
    store.close()


def new_stack(store: Store, name: str = "akira", actor: str = "U1") -> int:
    deployment, created = store.create_deployment(stack=name, app="app", branch="main", kind="deploy", actor=actor,
                                                  source="cli", create=True)
    assert created
    return deployment.id


def test_migrations_build_the_schema(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {"apps", "stacks", "deployments", "deployment_steps", "env_vars", "events", "stack_locks", "leases",
            "alembic_version"} <= tables
    with store.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == "0008"


def test_migrations_are_idempotent_at_start(db_url: str, store: Store) -> None:
    again = Store(db_url, KEY)  # a second start applies nothing and loses nothing
    assert [s.name for s in again.list_stacks()] == []
    again.close()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'w.db'}", KEY)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    store.close()


def test_env_values_are_encrypted_at_rest(store: Store) -> None:
    new_stack(store)
    canary = "canary-5f3a9b1e-not-in-the-db"
    assert store.change_env("akira", {"TOKEN": canary, "B": "2"}, [], "U1") == ["B", "TOKEN"]
    assert store.get_env("akira") == {"B": "2", "TOKEN": canary}
    with store.engine.connect() as conn:
        raw = [bytes(row[0]) for row in conn.execute(text("select value from env_vars"))]
    assert raw and all(canary.encode() not in value and value.startswith(b"gAAAA") for value in raw)
    assert store.change_env("akira", {"TOKEN": canary}, ["B"], "U1") == ["B"]  # same value: no change
    assert store.get_env("akira") == {"TOKEN": canary}


def test_stack_names_are_unique_among_live_stacks_only(store: Store) -> None:
    new_stack(store)
    with pytest.raises(IntegrityError):
        _insert_duplicate(store)
    store.mark_destroyed("akira")
    assert store.get_stack("akira") is None
    new_stack(store, actor="U2")  # the name is free again; the old history stays
    assert store.require_stack("akira").owner == "U2"


def _insert_duplicate(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("insert into stacks (name, app_id, branch, owner, state, created_at, updated_at, "
                          "last_activity_at) values ('akira', 1, 'x', 'U2', 'running', :t, :t, :t)"), {"t": utcnow()})


def test_require_stack_says_what_is_missing(store: Store) -> None:
    with pytest.raises(NotFound, match="no stack named `nope`"):
        store.require_stack("nope")


def test_lock_is_exclusive_and_first_come_first_served(store: Store) -> None:
    first = new_stack(store)
    second, _ = store.create_deployment(stack="akira", app="app", branch="main", kind="redeploy", actor="U2",
                                        source="slack", create=False)
    held = store.try_lock("akira", second.id, "U2", "r2")
    assert held is not None and held.deployment_id == first  # waits in line behind the older one
    assert store.try_lock("akira", first, "U1", "r1") is None
    holder = store.try_lock("akira", second.id, "U2", "r2")
    assert holder is not None and holder.holder == "U1"  # says who holds the stack
    store.start_deployment(first, "r1")
    store.finish_deployment(first, "succeeded")
    store.unlock("akira", first)
    assert store.try_lock("akira", second.id, "U2", "r2") is None


def test_lock_is_exclusive_across_stores_under_contention(db_url: str, store: Store) -> None:
    """Many stores (as if many processes) race for one stack: exactly one wins each round."""
    ids = [new_stack(store)]
    for actor in range(7):
        deployment, _ = store.create_deployment(stack="akira", app="app", branch="main", kind="redeploy",
                                                actor=f"U{actor}", source="cli", create=False)
        ids.append(deployment.id)
    stores = [Store(db_url, KEY) for _ in ids]
    holding: list[int] = []
    overlaps: list[tuple[int, int]] = []
    guard = threading.Lock()

    def run(own: Store, deployment_id: int) -> None:
        while own.try_lock("akira", deployment_id, "x", f"r{deployment_id}") is not None:
            time.sleep(0.01)
        with guard:
            if holding:
                overlaps.append((holding[0], deployment_id))
            holding.append(deployment_id)
        own.start_deployment(deployment_id, f"r{deployment_id}")
        time.sleep(0.02)
        own.finish_deployment(deployment_id, "succeeded")
        with guard:
            holding.remove(deployment_id)
        own.unlock("akira", deployment_id)

    threads = [threading.Thread(target=run, args=(s, i)) for s, i in zip(stores, reversed(ids), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for own in stores:
        own.close()
    assert overlaps == []

    def started_at(deployment: DeploymentRecord) -> datetime:
        assert deployment.started_at is not None, deployment  # every one of them ran
        return deployment.started_at

    order = [d.id for d in sorted(store.deployments("akira", limit=20), key=started_at)]
    assert order == ids  # in line, oldest first


def test_recover_marks_dead_runners_interrupted_and_frees_locks(store: Store) -> None:
    dead = new_stack(store)
    store.claim_deployment(dead, "gone")
    store.try_lock("akira", dead, "U1", "gone")
    store.start_deployment(dead, "gone")
    alive = new_stack(store, "toru")
    store.claim_deployment(alive, "alive")
    recovered = store.recover_interrupted(lambda runner, beat: runner == "gone")
    assert [d.id for d in recovered] == [dead] and recovered[0].state == "interrupted"
    assert store.lock_holder("akira") is None
    assert store.get_deployment(alive).state == "queued"
    assert store.recover_interrupted(lambda runner, beat: runner == "gone") == []  # only once


def test_lease_has_one_holder_until_it_expires(db_url: str, store: Store) -> None:
    other = Store(db_url, KEY)
    assert store.acquire_lease("scheduler", "a", ttl_seconds=30)
    assert not other.acquire_lease("scheduler", "b", ttl_seconds=30)
    assert store.acquire_lease("scheduler", "a", ttl_seconds=0.2)  # renew (short)
    time.sleep(0.3)
    assert other.acquire_lease("scheduler", "b", ttl_seconds=30)
    assert not store.acquire_lease("scheduler", "a", ttl_seconds=30)
    other.close()


def test_lease_race_has_one_winner(db_url: str, store: Store) -> None:
    stores = [Store(db_url, KEY) for _ in range(6)]
    results: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def race(own: Store, index: int) -> None:
        barrier.wait()
        results.append(own.acquire_lease("race", f"h{index}", 30))

    threads = [threading.Thread(target=race, args=(s, i)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for own in stores:
        own.close()
    assert sorted(results) == [False] * 5 + [True]


def test_steps_record_start_and_end(store: Store) -> None:
    deployment_id = new_stack(store)
    step = store.start_step(deployment_id, "build")
    store.end_step(step, "ok", "built")
    (recorded,) = store.get_deployment(deployment_id).steps
    assert recorded.ended_at is not None
    assert recorded.name == "build" and recorded.state == "ok" and recorded.ended_at >= recorded.started_at
    assert recorded.seconds is not None and recorded.seconds < timedelta(minutes=1).total_seconds()


def test_images_in_use_counts_live_stacks_and_pending_deployments(store: Store) -> None:
    a = new_stack(store, "a")
    store.update_stack("a", image="img:1")
    store.set_deployment(a, image="img:1")
    b = new_stack(store, "b")
    store.set_deployment(b, image="img:2")  # queued: about to run img:2
    assert store.images_in_use() == {"img:1", "img:2"}
    assert store.images_in_use(except_stack="a") == {"img:2"}
    assert store.images_of("a") == {"img:1"}


def test_events_are_an_audit_trail(store: Store) -> None:
    store.add_event(actor="U1", source="slack", action="deploy", stack="akira", result="ok", detail="#1")
    (event,) = store.events("akira")
    assert (event.actor, event.source, event.action, event.result) == ("U1", "slack", "deploy", "ok")


# The owner/branch check where the deployment is recorded (issue 18 item 6) ------------------------
MOVE_REFUSED = "only the owner of `akira` (<U1>) or an admin may move `akira` to another branch"


def deploy(store: Store, actor: str, branch: str, *, kind: str = "deploy", admin: bool = False,
           app: str = "app") -> tuple[int, bool]:
    deployment, created = store.create_deployment(stack="akira", app=app, branch=branch, kind=kind, actor=actor,
                                                  source="slack", create=kind == "deploy", admin=admin)
    return deployment.id, created


def test_a_stack_created_meanwhile_is_not_built_from_another_branch(store: Store) -> None:
    """The interleaving of the race: B and A both checked `akira` (absent), then A recorded
    first. B's deploy of another branch must not be queued on A's new stack (with A's env)."""
    assert store.get_stack("akira") is None  # what B's check saw
    _, created = deploy(store, "U1", "feature-a")
    assert created
    with pytest.raises(PermissionDenied) as refused:
        deploy(store, "U2", "feature-b")
    assert str(refused.value) == MOVE_REFUSED
    assert [d.branch for d in store.deployments("akira")] == ["feature-a"]
    # The same branch is not a move: anyone may build it again; an admin and the owner may move it.
    assert deploy(store, "U2", "feature-a")[1] is False
    assert deploy(store, "U3", "feature-x", admin=True)[1] is False
    assert deploy(store, "U1", "feature-y")[1] is False


def test_a_stack_moved_meanwhile_is_not_moved_back_by_a_stale_redeploy(store: Store) -> None:
    new_stack(store)  # U1's, on main
    store.update_stack("akira", branch="feature")  # U1's deploy of `feature` succeeded meanwhile
    with pytest.raises(PermissionDenied, match="may move `akira` to another branch"):
        deploy(store, "U2", "main", kind="redeploy")  # read `main` before the move
    with pytest.raises(PermissionDenied):
        deploy(store, "U2", "main")
    for kind in ("env", "destroy", "wake", "sleep"):  # these build nothing from the branch
        store.create_deployment(stack="akira", app="app", branch="main", kind=kind, actor="U2", source="cli",
                                create=False)


def test_a_stack_created_meanwhile_with_another_app_is_refused(store: Store) -> None:
    store.sync_apps({"app": AppConfig(repo="/srv/app.git", branch="main", default=True),
                     "other": AppConfig(repo="/srv/other.git", branch="main")})
    deploy(store, "U1", "main", app="other")
    with pytest.raises(YadockeriError, match="runs app `other`; destroy it first to use `app`"):
        deploy(store, "U1", "main")


def test_two_stores_racing_to_create_one_stack(db_url: str, store: Store) -> None:
    """Threads on their own stores (as if processes) all deploy `akira` at once, each its own
    branch: one creates it, every other one is refused; none is queued on the winner's stack."""
    stores = [Store(db_url, KEY) for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    results: dict[str, object] = {}

    def race(own: Store, index: int) -> None:
        barrier.wait()
        try:
            results[f"U{index}"] = deploy(own, f"U{index}", f"branch-{index}")[1]
        except PermissionDenied as error:
            results[f"U{index}"] = error

    threads = [threading.Thread(target=race, args=(s, i)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for own in stores:
        own.close()
    winners = [actor for actor, result in results.items() if result is True]
    assert len(results) == 6 and len(winners) == 1
    owner = store.require_stack("akira")
    assert owner.owner == winners[0] and owner.branch == f"branch-{winners[0][1:]}"
    assert all(isinstance(r, PermissionDenied) for a, r in results.items() if a != winners[0])
    assert [d.requested_by for d in store.deployments("akira")] == winners


def test_the_check_waits_for_a_creation_in_flight(db_url: str, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A's transaction has inserted `akira` but not committed when B's begins: B waits for it
    (SQLite: the write lock; PostgreSQL: the unique index) and then decides on A's row."""
    from stacks.queries import deployments as deployments_module

    a_store, b_store = Store(db_url, KEY), Store(db_url, KEY)
    inserted, release = threading.Event(), threading.Event()
    real_insert = deployments_module.insert

    def slow_insert(session, row):
        done = real_insert(session, row)
        if threading.current_thread().name == "A":
            inserted.set()
            release.wait(30)  # hold A's transaction open
        return done

    monkeypatch.setattr(deployments_module, "insert", slow_insert)
    outcome: dict[str, object] = {}

    def run(name: str, own: Store, actor: str, branch: str) -> None:
        try:
            outcome[name] = deploy(own, actor, branch)
        except YadockeriError as error:
            outcome[name] = error

    a = threading.Thread(target=run, name="A", args=("A", a_store, "U1", "feature-a"))
    b = threading.Thread(target=run, name="B", args=("B", b_store, "U2", "feature-b"))
    a.start()
    assert inserted.wait(30)
    b.start()
    time.sleep(0.5)
    assert "B" not in outcome  # B is waiting on A's open transaction
    release.set()
    a.join(30)
    b.join(30)
    a_store.close()
    b_store.close()
    a_outcome = outcome["A"]
    assert isinstance(a_outcome, tuple) and a_outcome == (a_outcome[0], True)
    assert isinstance(outcome["B"], PermissionDenied) and str(outcome["B"]) == MOVE_REFUSED
    assert [d.branch for d in store.deployments("akira")] == ["feature-a"]
