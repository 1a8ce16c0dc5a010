"""A deploy asked for from Slack while Slack's Web API is down for 30 s: its messages arrive once
Slack is back, each exactly once, with the final state; also when yadockeri is killed (SIGKILL)
and started again during the outage. Real engine, swarm and router; signed requests; the strict
Slack stand-in playing the outage (every Web API call answered HTTP 503)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import docker
import pytest
import requests

from stacks.config import Settings
from stacks.engine import Engine
from tests.conftest import env_for_cli, free_port, purge, unique
from tests.support.infra import stop_process
from tests.support.slack_requests import signed_headers, slash_command_body
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import (
    CHANNEL,
    NOTIFY,
    OWNER,
    SECRET,
    RunningBot,
    bot_process,
    top_level,
    wait_for,
)

pytestmark = pytest.mark.swarm

OUTAGE = 30.0


def finished(engine: Engine, stack: str) -> int:
    """The id of the stack's deployment once it succeeded and its final message and notice are kept."""
    deployment = next((d for d in engine.store.deployments(stack, limit=5) if d.state == "succeeded"), None)
    if deployment is None:
        return 0
    pending = engine.store.pending_messages()
    kept = [m for m in pending if m.tag and json.loads(m.tag).get("deployment") == deployment.id]
    notice = [m for m in pending if m.channel == NOTIFY and stack in m.content and "created" in m.content]
    return deployment.id if kept and kept[0].final and notice else 0


def end_outage(slack: SlackStandin, started: float) -> None:
    """Slack comes back OUTAGE seconds after the command (or now, if the deploy took longer)."""
    time.sleep(max(0.0, started + OUTAGE - time.monotonic()))
    slack.end_outage()


def stack_messages(slack: SlackStandin, settings: Settings, stack: str) -> list[dict]:
    return [m for m in top_level(slack) if stack in m["text"] or settings.stack_url(stack) in m["text"]]


def assert_delivered_once(slack: SlackStandin, settings: Settings, stack: str) -> None:
    url = settings.stack_url(stack)
    message = wait_for(lambda: next((m for m in top_level(slack) if url in m["text"] and "is up" in m["text"]), None),
                       120, "the final message after the outage")
    time.sleep(3)  # anything still to come (a duplicate) would come now
    assert len(stack_messages(slack, settings, stack)) == 1, stack_messages(slack, settings, stack)
    replies = slack.replies(CHANNEL, message["ts"])
    assert len([r for r in replies if "Deployment #" in r["text"]]) == 1  # the details, once
    created = [m for m in slack.messages(NOTIFY) if stack in m["text"] and "created" in m["text"]]
    assert len(created) == 1, [(c.method, c.status, c.params.get("text"), c.response) for c in slack.calls()
                               if c.params.get("channel") == NOTIFY]


def test_a_deploy_during_an_outage_ends_with_its_message_delivered_once(
        bot: RunningBot, engine: Engine, settings: Settings, slack: SlackStandin) -> None:
    stack = unique("o")
    slack.outage(3600, "503")
    started = time.monotonic()
    answer, _ = bot.command(f"deploy {stack} main")
    assert answer.status_code == 200  # the ack never needs the Web API
    wait_for(lambda: finished(engine, stack), 240, "the deploy done while Slack is down")
    assert stack_messages(slack, settings, stack) == []  # nothing could get through
    end_outage(slack, started)
    assert_delivered_once(slack, settings, stack)
    assert engine.store.pending_messages() == [] or all(not m.final for m in engine.store.pending_messages())


def test_the_same_with_yadockeri_killed_and_started_again_during_the_outage(
        make_settings, slack: SlackStandin, tmp_path: Path, docker_client: docker.DockerClient) -> None:
    settings = make_settings()
    engine = Engine(settings)
    engine.start()
    stack, port = unique("o"), free_port()
    env = env_for_cli(settings, tmp_path)
    env.pop("SLACK_APP_TOKEN", None)
    env.update(SLACK_BOT_TOKEN=slack.bot_token, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.base_url,
               YADOCKERI_BOT_PORT=str(port), YADOCKERI_NOTIFY_CHANNEL=NOTIFY)
    process = bot_process(env, port, capture=False)
    try:
        slack.outage(3600, "503")
        started = time.monotonic()
        body = slash_command_body(f"deploy {stack} main", user_id=OWNER, channel_id=CHANNEL,
                                  response_url=slack.new_response_url(), trigger_id=slack.new_trigger_id(OWNER))
        answer = requests.post(f"http://127.0.0.1:{port}/slack/events", data=body,
                               headers=signed_headers(SECRET, body), timeout=10)
        assert answer.status_code == 200
        wait_for(lambda: finished(engine, stack), 240, "the deploy done while Slack is down")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        process = bot_process(env, port, capture=False)  # a new yadockeri, Slack still down
        assert stack_messages(slack, settings, stack) == []
        end_outage(slack, started)
        assert_delivered_once(slack, settings, stack)
    finally:
        stop_process(process)
        engine.close()
        purge(docker_client, stack)
