"""Block Kit builders: by equality where the shape matters, and through the strict stand-in
(which refuses what Slack would refuse) for every surface, at its limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.blocks.common import as_dicts, stack_actions
from bot.blocks.deployment import Progress, StepLine, details_message, notice_line, progress_message
from bot.blocks.home import home_view, restricted_home_view
from bot.blocks.modals import deploy_modal, env_modal, message_modal
from bot.blocks.stacks import (
    capacity_text,
    destroy_prompt,
    list_message,
    logs_fit,
    logs_message,
    status_message,
    summary_message,
)
from bot.listeners.views.env_submitted import read_env_form
from bot.text import code, error_text, esc, mention, named, who
from stacks.capacity import Capacity, StackCounts
from stacks.engine import ServiceState, StackStatus
from stacks.router_network import Addresses
from stacks.secrets import mask
from stacks.store import DeploymentRecord, StackRecord
from tests.support.slack_requests import state_values
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import CHANNEL, make_standin

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def standin() -> Iterator[SlackStandin]:
    with make_standin() as slack:
        slack.tier_limits(False)  # here it checks blocks, many a second into one channel
        yield slack


@pytest.fixture(scope="module")
def client(standin: SlackStandin) -> WebClient:
    return WebClient(token=standin.bot_token, base_url=standin.base_url)


def post(client: WebClient, built: tuple[str, list]) -> dict:
    text, blocks = built
    answer = client.chat_postMessage(channel=CHANNEL, text=text, blocks=as_dicts(blocks))
    return answer["message"]


def stack_record(name: str, **fields: object) -> StackRecord:
    values: dict = dict(id=1, name=name, app="hello", branch="feature/x", commit="0123456789abcdef0123", image=None,
                        owner="U123", state="running", created_at=NOW - timedelta(days=2),
                        last_activity_at=NOW - timedelta(minutes=5), last_request_at=None, requests=0, asleep=False,
                        keep_until=None, warned_at=None, middleware_hash=None, node=None, thread=None)
    values.update(fields)
    known = {f.name for f in dataclasses.fields(StackRecord)}
    missing: dict[str, Any] = {name: None for name in known - set(values)}
    return StackRecord(**{k: v for k, v in values.items() if k in known}, **missing)


def deployment_record(number: int, **fields: object) -> DeploymentRecord:
    values: dict = dict(id=number, stack="akira", stack_id=1, kind="deploy", branch="main", commit=None, image=None,
                        state="succeeded", requested_by="U123", source="slack", created_at=NOW - timedelta(hours=1),
                        started_at=NOW - timedelta(hours=1), finished_at=NOW - timedelta(minutes=59), runner=None,
                        error=None, log_tail=None, message=None)
    values.update(fields)
    known = {f.name for f in dataclasses.fields(DeploymentRecord)}
    missing: dict[str, Any] = {f.name: None for f in dataclasses.fields(DeploymentRecord)
                               if f.name not in values and f.default is dataclasses.MISSING
                               and f.default_factory is dataclasses.MISSING}
    return DeploymentRecord(**{k: v for k, v in values.items() if k in known}, **missing)


def test_stack_buttons_by_equality() -> None:
    assert stack_actions("akira", "http://akira.y.localhost").to_dict() == {
        "type": "actions", "block_id": "stack:akira", "elements": [
            {"type": "button", "action_id": "open", "url": "http://akira.y.localhost", "value": "akira",
             "text": {"type": "plain_text", "text": "Open", "emoji": True}},
            {"type": "button", "action_id": "redeploy", "value": "akira",
             "text": {"type": "plain_text", "text": "Redeploy", "emoji": True}},
            {"type": "button", "action_id": "env", "value": "akira",
             "text": {"type": "plain_text", "text": "Env", "emoji": True}},
            {"type": "button", "action_id": "logs", "value": "akira",
             "text": {"type": "plain_text", "text": "Logs", "emoji": True}},
            {"type": "button", "action_id": "destroy", "value": "akira", "style": "danger",
             "text": {"type": "plain_text", "text": "Destroy", "emoji": True},
             "confirm": {
                 "title": {"type": "plain_text", "text": "Destroy akira?", "emoji": True},
                 "text": {"type": "mrkdwn", "text": "Every service, volume and env var of `akira` goes away. "
                                                    "This cannot be undone.", "verbatim": True},
                 "confirm": {"type": "plain_text", "text": "Destroy", "emoji": True},
                 "deny": {"type": "plain_text", "text": "Cancel", "emoji": True},
                 "style": "danger"}},
        ]}
    without_url = stack_actions("akira", None).to_dict()["elements"]
    assert [e["action_id"] for e in without_url] == ["redeploy", "env", "logs", "destroy"]


def test_progress_message_through_a_deployment(client: WebClient) -> None:
    p = Progress(7, "akira", "deploy", "feature/x", "U123")
    text, blocks = progress_message(p)
    assert text == ":hourglass_flowing_sand: *deploy* of `akira` from `feature/x` is queued"
    assert [b.type for b in blocks] == ["section", "context"]
    p.state, p.holder_deployment, p.holder, p.holder_since = "waiting", 6, "cli:toru", NOW
    assert "is busy with deployment #6 of `cli:toru` since <!date^" in progress_message(p)[0]
    p.state, p.elapsed = "running", 75.0
    p.steps = [StepLine("fetch", "ok", 0.4), StepLine("build", "running")]
    text, blocks = progress_message(p)
    assert text == ":gear: *deploy* of `akira` from `feature/x`: step *build* · 1m 15s"
    assert blocks[-1].to_dict()["elements"][1]["text"] == "✓ fetch 0.4s  ⟳ build"
    p.state, p.urls, p.commit = "succeeded", ["http://akira.y.localhost"], "0123456789abcdef"
    text, blocks = progress_message(p)
    assert text == (":white_check_mark: `akira` is up: <http://akira.y.localhost> · `feature/x` at `0123456789ab` "
                    "· took 1m 15s")
    assert blocks[-1].to_dict()["block_id"] == "stack:akira"
    post(client, (text, blocks))
    p.state, p.error, p.urls = "failed", "build failed: exit 3 <&>\nmore", []
    p.steps[-1].state = "failed"
    text, blocks = progress_message(p)
    assert text == ":x: *deploy* of `akira` from `feature/x` failed at step *build*: build failed: exit 3 &lt;&amp;&gt;"
    assert "open" not in str(as_dicts(blocks)[-1])
    post(client, (text, blocks))
    destroyed = Progress(8, "akira", "destroy", "main", "U123", state="succeeded")
    assert [b.type for b in progress_message(destroyed)[1]] == ["section", "context"]  # no buttons left


def test_a_warning_is_in_the_message_and_the_thread(client: WebClient) -> None:
    """A deploy that succeeded with a step that went wrong (a 500, a failed postdeploy) says so."""
    p = Progress(10, "akira", "deploy", "main", "U123", state="succeeded", urls=["http://akira.y.localhost"],
                 steps=[StepLine("wait", "warning", 1.2, "the web answered / answered 500: <boom>"),
                        StepLine("postdeploy", "ok", 3.0, "bin/seed")])
    text, blocks = progress_message(p)
    assert text.startswith(":white_check_mark: `akira` is up: <http://akira.y.localhost>")
    assert text.endswith("\n:warning: *wait*: the web answered / answered 500: &lt;boom&gt;")
    assert blocks[-2].to_dict()["elements"][1]["text"] == "⚠ wait 1.2s  ✓ postdeploy 3.0s"
    post(client, (text, blocks))
    thread = post(client, details_message(p, None, tail_attached=False))
    assert "⚠ wait 1.2s — the web answered / answered 500: &lt;boom&gt;" in str(thread["blocks"])


def test_details_with_a_long_failure_fit_slack(client: WebClient) -> None:
    p = Progress(9, "akira", "deploy", "main", "U123", state="failed", error="x" * 10_000,
                 steps=[StepLine(f"step{n}", "ok", 1.0, "d" * 500) for n in range(30)])
    tail = "\n".join(f"line {n} " + "y" * 300 for n in range(200))
    message = post(client, details_message(p, tail, tail_attached=True))
    assert "line 199" in str(message["blocks"]) and "line 100" not in str(message["blocks"])


def test_list_is_paginated_within_50_blocks(client: WebClient) -> None:
    stacks = [stack_record(f"s{n:03d}") for n in range(95)]
    urls = {s.name: f"http://{s.name}.y.localhost" for s in stacks}
    pages = [list_message(stacks, urls, page, NOW, person=lambda actor: named(actor, "akira")) for page in range(3)]
    for text, blocks in pages:
        assert len(blocks) <= 50
        post(client, (text, blocks))
    assert "s000" in str(as_dicts(pages[0][1])) and "s040" in str(as_dicts(pages[1][1]))
    assert "s094" in str(as_dicts(pages[2][1]))
    assert "5m ago" in str(as_dicts(pages[0][1])) and "owner akira ·" in str(as_dicts(pages[0][1]))
    assert "<@" not in str(as_dicts(pages[0][1]))  # a list (maybe a reply in a thread) pings no owner
    assert list_message([], {}, 0)[0].startswith("No stacks yet")


CAPACITY = Capacity(StackCounts(412, 180, 232, 0), 1000, 5, "router", Addresses("router", "172.16.0.0/19", 8189, 184))
SUMMARY = ("stacks: 412 (180 running, 232 asleep) of at most 1000 · router network router (172.16.0.0/19): "
           "184 of 8189 addresses taken, 8005 free · per person: at most 5 stacks")


def test_the_capacity_is_one_context_line_under_the_list_and_on_the_home_tab(client: WebClient) -> None:
    assert capacity_text(CAPACITY) == SUMMARY
    hostile = Capacity(StackCounts(), None, None, "router", None, "<!channel> cannot reach <http://evil|x>")
    assert "&lt;!channel&gt;" in capacity_text(hostile) and "<http" not in capacity_text(hostile)
    stacks = [stack_record(f"s{n:03d}") for n in range(95)]
    urls = {s.name: f"http://{s.name}.y.localhost" for s in stacks}
    for page in range(3):
        text, blocks = list_message(stacks, urls, page, NOW, capacity=CAPACITY)
        assert len(blocks) <= 50 and as_dicts(blocks)[1]["elements"][0]["text"] == SUMMARY
        post(client, (text, blocks))
    empty = list_message([], {}, 0, capacity=hostile)
    assert as_dicts(empty[1])[1]["type"] == "context"
    post(client, empty)
    text, blocks = summary_message(CAPACITY)
    assert text == "stacks: 412 (180 running, 232 asleep) of at most 1000" and "per person" in str(as_dicts(blocks))
    post(client, (text, blocks))
    for page in range(3):
        home = home_view(stacks[:65], urls, page, NOW, capacity=CAPACITY).to_dict()
        assert len(home["blocks"]) <= 100 and home["blocks"][2]["elements"][0]["text"] == SUMMARY
        assert client.views_publish(user_id="U123", view=home)["ok"]
    none_yet = home_view([], {}, 0, NOW, capacity=CAPACITY).to_dict()
    assert none_yet["blocks"][2]["elements"][0]["text"] == "No stacks yet. " + SUMMARY


def test_status_logs_and_destroy_prompt_are_accepted(client: WebClient) -> None:
    status = StackStatus(
        stack=stack_record("akira"), urls=["http://akira.y.localhost", "http://akira.y2.localhost"],
        deployments=[deployment_record(n, error="boom" if n % 2 else None) for n in range(5)],
        services=[ServiceState("akira_web", "process", 1, 1, None), ServiceState("akira_db", "middleware", 0, 1, "x")],
        env_keys=["A", "B"],
    )
    text, blocks = status_message(status, NOW)
    assert text == "akira is running"
    assert "*Env vars* (values are secret): `A`, `B`" in str(as_dicts(blocks))
    post(client, (text, blocks))
    lines = [f"2024-05-01T12:00:00Z web.1 GET /{n} <script>" for n in range(20)]
    assert logs_fit(lines) and not logs_fit(lines * 20)
    post(client, logs_message("akira", "web", lines))
    post(client, destroy_prompt(stack_record("akira")))


def test_modals_and_home_are_accepted_at_their_limits(standin: SlackStandin, client: WebClient) -> None:
    masked = {f"KEY_{n:03d}": mask("s" * n) for n in range(120)}
    view = env_modal("akira", masked, channel=CHANNEL).to_dict()
    assert len(view["blocks"]) <= 100 and view["callback_id"] == "env"
    assert "s" * 12 not in str(view)  # masked values only
    assert client.views_open(trigger_id=standin.new_trigger_id(), view=view)["ok"]
    empty = env_modal("akira", {}, channel=CHANNEL).to_dict()
    assert [b.get("block_id") for b in empty["blocks"] if b["type"] == "input"] == ["add"]
    apps = {f"app{n}": "main" for n in range(3)}
    assert client.views_open(trigger_id=standin.new_trigger_id(), view=deploy_modal(apps, "app1", CHANNEL))["ok"]
    assert client.views_open(trigger_id=standin.new_trigger_id(), view=deploy_modal({"one": "dev"}, "one", CHANNEL))
    assert client.views_open(trigger_id=standin.new_trigger_id(), view=message_modal("x" * 40, "y" * 5000))["ok"]
    stacks = [stack_record(f"s{n:03d}") for n in range(65)]
    urls = {s.name: f"http://{s.name}.y.localhost" for s in stacks}
    for page in range(3):
        home = home_view(stacks, urls, page, NOW).to_dict()
        assert len(home["blocks"]) <= 100
        assert client.views_publish(user_id="U123", view=home)["ok"]
    assert client.views_publish(user_id="U123", view=restricted_home_view(["C1", "C2"]))["ok"]


def test_env_form_reading() -> None:
    values = state_values({
        "set:A": {"value": "new-a"}, "set:B": {"value": ""},
        "add": {"value": "C=1=2\n\n  D =x y \nE="},
        "remove": {"value": {"type": "multi_static_select",
                             "selected_options": [{"text": {"type": "plain_text", "text": "F"}, "value": "F"}]}},
    })
    assert read_env_form(values) == ({"A": "new-a", "C": "1=2", "D": "x y ", "E": ""}, ["F"], {})
    assert read_env_form(state_values({"add": {"value": "1BAD=x"}}))[2].keys() == {"add"}
    assert read_env_form(state_values({"add": {"value": "PORT=1"}}))[2].keys() == {"add"}
    assert read_env_form(state_values({"add": {"value": "no equals sign"}}))[2] == {"add": "line 1 is not KEY=VALUE"}
    assert read_env_form(state_values({}))[2].keys() == {"add"}  # nothing to change
    both = state_values({"set:A": {"value": "v"}, "remove": {"value": {
        "type": "multi_static_select", "selected_options": [{"text": {"type": "plain_text", "text": "A"}, "value": "A"}]}}})
    assert read_env_form(both)[2].keys() == {"remove"}
    secret_errors = read_env_form(state_values({"add": {"value": "9X=hunter2-secret"}}))[2]
    assert "hunter2" not in str(secret_errors)


def test_text_helpers() -> None:
    assert esc("a<b>&c") == "a&lt;b&gt;&amp;c"
    assert code("x`y\nz") == "`x'y z`"
    assert who("U123ABC") == "<@U123ABC>" and who("cli:akira") == "`cli:akira`" and who(None) == "someone"
    assert mention("U123ABC") == "<@U123ABC>" and mention("cli:akira") is None and mention("github") is None
    assert mention("api:U123ABC") is None and mention(None) is None
    assert named("U1A", "Akira <b> @channel") == "Akira &lt;b&gt; ＠channel" and named("U1A") == "`U1A`"
    assert named("cli:bob", "bob") == "`cli:bob`" and named(None) == "someone"
    assert error_text("only the owner of `x` (<U123>) may") == "only the owner of `x` (<@U123>) may"
    assert notice_line("created", "akira", "U1A", "http://akira.y.localhost", 3, by="akira") == \
        ":new: akira created `akira`: <http://akira.y.localhost>"
    assert notice_line("failed", "akira", "U1A", "build failed\nmore", 3) == \
        ":x: `akira`: deployment #3 by `U1A` failed: build failed"  # by default: named, never mentioned
    assert notice_line("rolled-back", "akira", "U1A", "swarm rolled back akira_web: <b>\nmore", 4, by="akira") == \
        ":rewind: `akira`: deployment #4 by akira went live, then swarm rolled it back: swarm rolled back akira_web: &lt;b&gt;"
