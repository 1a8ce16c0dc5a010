"""The HTTP API without Docker: tokens (who they act as, revoked, expired, never stored in
clear), every error status with a message a person can act on, the rate limit, and every
answer checked against the OpenAPI document. The API runs as in production (uvicorn on its
thread) against a real engine and database; nothing here reaches Docker (the owner checks come
first). tests/test_api_swarm.py deploys through it."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import update

from api.server import ApiServer
from stacks.config import AppConfig, Settings
from stacks.engine import Actor, Engine
from stacks.models import ApiToken, utcnow
from tests.support.api import ApiClient

ADMIN = Actor(id="cli:test", source="cli", admin=True)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    settings = Settings(data_dir=tmp_path / "data", apps={"shop": AppConfig(repo=str(tmp_path / "repo"), default=True)},
                        api_rate="1000/s", admins="UADMIN")
    engine = Engine(settings)
    engine.start()
    for stack, owner in (("akira", "UOWNER"), ("toru", "UOTHER")):
        engine.store.create_deployment(stack=stack, app="shop", branch="main", kind="deploy", actor=owner,
                                       source="slack", create=True)
    yield engine
    engine.close()


@pytest.fixture
def client(engine: Engine) -> Iterator[ApiClient]:
    server = ApiServer(engine, port=0).start()
    yield ApiClient(server.url, engine.tokens.create_personal("UOWNER", Actor("UOWNER", "slack")))
    server.stop()


def test_a_personal_token_reads_as_its_owner(client: ApiClient) -> None:
    listed = client.call("GET", "/stacks")
    assert listed.status_code == 200
    assert [(s["name"], s["owner"], s["state"]) for s in listed.json()["stacks"]] == [
        ("akira", "UOWNER", "deploying"), ("toru", "UOTHER", "deploying")]
    one = client.call("GET", "/stacks/{stack}", stack="akira").json()
    assert one["url"] == "http://akira.y.localhost" and one["branch"] == "main" and one["next"]
    assert client.call("GET", "/stacks/{stack}/env", stack="akira").json() == {"stack": "akira", "keys": []}
    first = client.call("GET", "/deployments/{deployment_id}", deployment_id=1).json()
    assert (first["stack"], first["kind"], first["events"]) == ("akira", "deploy", "/api/v1/deployments/1/events")


@pytest.mark.parametrize(("header", "words"), [
    (None, "send your token as `Authorization: Bearer <token>`"),
    ("Basic dXNlcjpwYXNz", "send your token as `Authorization: Bearer <token>`"),
    ("Bearer nonsense", "this token is not known"),
    ("Bearer ydk_" + "A" * 43, "this token is not known"),
])
def test_no_or_a_bad_token_is_401(client: ApiClient, header: str | None, words: str) -> None:
    response = client.call("GET", "/stacks", token="", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"] == "not_authenticated" and words in response.json()["message"]


def test_a_revoked_or_expired_token_is_refused(engine: Engine, client: ApiClient) -> None:
    ci = engine.tokens.create_named("ci", ADMIN, expires_in=90 * 86400)
    assert client.call("GET", "/stacks", token=ci).status_code == 200
    with engine.store.session() as s:
        s.execute(update(ApiToken).where(ApiToken.name == "ci").values(expires_at=utcnow() - timedelta(seconds=1)))
    engine.tokens.forget()  # changed behind its back (another process would be seen within 5 s)
    expired = client.call("GET", "/stacks", token=ci)
    assert expired.status_code == 401 and "this token expired on" in expired.json()["message"]
    engine.tokens.revoke("ci", ADMIN)
    assert client.call("GET", "/stacks", token=ci).json()["message"].startswith("this token is not known")
    mine = client.token
    engine.tokens.create_personal("UOWNER", Actor("UOWNER", "slack"))  # a new personal token replaces the old
    assert client.call("GET", "/stacks", token=mine).status_code == 401


def test_a_non_owner_cannot_destroy_or_change_env(engine: Engine, client: ApiClient) -> None:
    refused = client.call("DELETE", "/stacks/{stack}", stack="toru")
    assert refused.status_code == 403 and refused.json() == {
        "error": "forbidden", "message": "only the owner of `toru` (<UOTHER>) or an admin may destroy `toru`"}
    env = client.call("PATCH", "/stacks/{stack}/env", stack="toru", json_body={"set": {"A": "1"}})
    assert env.status_code == 403 and "may change the env of `toru`" in env.json()["message"]
    assert engine.store.get_env("toru") == {}
    forever = client.call("POST", "/stacks/{stack}/keep", stack="akira", json_body={"forever": True})
    assert forever.status_code == 403 and "only an admin may keep a stack forever" in forever.json()["message"]
    refusals = [e for e in engine.store.events("toru") if e.result == "refused"]
    assert refusals and {e.source for e in refusals} == {"api:@uowner"}  # the event names the token
    assert [e.detail for e in engine.store.events("akira") if e.result == "refused"] == ["forever: not an admin"]


def test_bad_input_is_answered_in_the_parsers_words(client: ApiClient) -> None:
    bad_name = client.call("GET", "/stacks/{stack}", stack="Not_A_Name")
    assert bad_name.status_code == 422 and bad_name.json()["message"].startswith("stack name `Not_A_Name` is not allowed")
    bad_branch = client.call("POST", "/stacks/{stack}/deployments", stack="new", json_body={"branch": "a..b"})
    assert bad_branch.status_code == 422 and "branch" in bad_branch.json()["message"]
    extra = client.call("POST", "/stacks/{stack}/deployments", stack="new", json_body={"branch": "main", "x": 1})
    assert extra.status_code == 422 and extra.json()["message"].startswith("x: Extra inputs are not permitted")
    missing = client.call("POST", "/stacks/{stack}/deployments", stack="new", json_body={})
    assert missing.status_code == 422 and missing.json()["message"] == "branch: Field required"
    broken = client.call("POST", "/stacks/{stack}/deployments", stack="new", data="{not json")
    assert broken.status_code == 400 and broken.json() == {"error": "bad_request", "message": "the body is not valid JSON"}
    bad_key = client.call("PATCH", "/stacks/{stack}/env", stack="akira", json_body={"unset": ["lower case"]})
    assert bad_key.status_code == 422 and "lower case" in bad_key.json()["message"]
    bad_tail = client.call("GET", "/stacks/{stack}/logs", stack="akira", params={"tail": 0})
    assert bad_tail.status_code == 422 and bad_tail.json()["message"].startswith("tail:")


def test_unknown_things_are_404(client: ApiClient) -> None:
    stack = client.call("GET", "/stacks/{stack}", stack="nobody")
    assert stack.status_code == 404 and stack.json() == {
        "error": "not_found", "message": "there is no stack named `nobody`; `list` shows the stacks"}
    assert client.call("GET", "/deployments/{deployment_id}", deployment_id=999).json()["message"] == "no deployment #999"
    assert client.call("GET", "/deployments/{deployment_id}/events", deployment_id=999).status_code == 404
    assert client.call("POST", "/stacks/{stack}/redeploy", stack="nobody").status_code == 404
    unknown = requests.get(client.base + "/api/v1/nothing", headers=client.headers(), timeout=5)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    wrong = requests.put(client.base + "/api/v1/stacks", headers=client.headers(), timeout=5)
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed" and wrong.headers["Allow"] == "GET"


def test_past_its_rate_a_token_gets_429_with_retry_after(engine: Engine) -> None:
    engine.settings = engine.settings.model_copy(update={"api_rate": "3/m"})
    server = ApiServer(engine, port=0).start()
    try:
        client = ApiClient(server.url, engine.tokens.create_named("burst", ADMIN))
        assert [client.call("GET", "/stacks").status_code for _ in range(3)] == [200, 200, 200]
        limited = client.call("GET", "/stacks")
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 20
        assert "token `burst` is past its rate" in limited.json()["message"]
        other = ApiClient(server.url, engine.tokens.create_named("other", ADMIN))
        assert other.call("GET", "/stacks").status_code == 200  # a rate per token
        guesses = [other.call("GET", "/stacks", token="ydk_" + "x" * 43).status_code for _ in range(4)]
        assert guesses == [401, 401, 401, 429]  # bad tokens are limited per address, before any lookup
    finally:
        server.stop()


def test_tokens_are_never_stored_or_logged_in_clear(engine: Engine, client: ApiClient,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    named = engine.tokens.create_named("deployer", ADMIN, admin=True)
    for token in (client.token, named):
        assert token is not None and client.call("GET", "/stacks", token=token).status_code == 200
    engine.store.engine.dispose()  # everything written to the file
    data = b"".join(path.read_bytes() for path in engine.settings.data_dir.rglob("*") if path.is_file())
    for token in (client.token, named):
        assert token is not None and token.encode() not in data and token[4:].encode() not in data
        assert token not in caplog.text
    listed = {t.name: t for t in engine.tokens.all()}
    assert listed["deployer"].admin and listed["deployer"].hint == named[:8]
    assert listed["@uowner"].owner == "UOWNER" and listed["@uowner"].last_used_at is not None


def test_healthz_answers_without_a_token(client: ApiClient) -> None:
    answer = requests.get(client.base + "/healthz", timeout=10)
    assert (answer.status_code, answer.json()) == (200, {"ok": True})


def test_the_openapi_document_lists_every_endpoint(client: ApiClient) -> None:
    paths = {f"{method.upper()} {path}" for path, operations in client.document["paths"].items()
             for method in operations}
    assert paths == {
        "GET /api/v1/stacks", "GET /api/v1/stacks/{stack}", "DELETE /api/v1/stacks/{stack}",
        "POST /api/v1/stacks/{stack}/deployments", "POST /api/v1/stacks/{stack}/redeploy",
        "POST /api/v1/stacks/{stack}/keep", "GET /api/v1/stacks/{stack}/env", "PATCH /api/v1/stacks/{stack}/env",
        "GET /api/v1/stacks/{stack}/logs", "GET /api/v1/deployments/{deployment_id}",
        "GET /api/v1/deployments/{deployment_id}/events",
    }


def test_named_tokens_on_the_command_line(engine: Engine, tmp_path: Path) -> None:
    config = tmp_path / "yadockeri.yml"
    config.write_text(f"apps: {{shop: {{repo: {engine.settings.apps['shop'].repo}, default: true}}}}\n")
    env = {"YADOCKERI_DATA_DIR": str(engine.settings.data_dir), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "YADOCKERI_CONFIG": str(config)}

    def cli(*words: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "yadockeri", *words], env=env, capture_output=True, text=True,
                              timeout=60)

    created = cli("token", "create", "ci", "--admin", "--expires", "90d")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    actor, record = engine.tokens.actor_of(token)
    assert (actor.id, actor.admin, actor.source, record.expires_at is not None) == ("token:ci", True, "api:ci", True)
    again = cli("token", "create", "ci")
    assert again.returncode == 1 and "a token named `ci` exists; revoke it first" in again.stderr
    listed = cli("token", "list")
    assert "ci" in listed.stdout and "token:ci" in listed.stdout and token not in listed.stdout
    assert cli("token", "revoke", "ci").returncode == 0
    assert cli("token", "revoke", "ci").returncode == 1
    bad = cli("token", "create", "CI")
    assert bad.returncode == 2 and "token name `CI` is not allowed" in bad.stderr
