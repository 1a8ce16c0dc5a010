"""Idle stacks in Slack: `keep`, the warning with Keep buttons (a signed block_actions request),
the reap notice, and a real `yadockeri bot` process killed with SIGKILL between warning and reap."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from stacks.engine import Engine
from stacks.scheduler import Scheduler
from tests.conftest import env_for_cli, free_port, purge, unique
from tests.support.helpers import ADMIN as CLI_ADMIN
from tests.support.helpers import deploy, page, succeeded, through_router
from tests.support.infra import stop_process
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import (
    ADMIN,
    CHANNEL,
    NOTIFY,
    OTHER,
    OWNER,
    SECRET,
    RunningBot,
    bot_process,
    slack_settings,
    start_bot,
    texts,
    wait_for,
)


def a_stack(engine: Engine, owner: str = OWNER) -> str:
    """A stack in the database only (no Docker): enough for keep."""
    name = unique("q")
    engine.store.create_deployment(stack=name, app="demo", branch="main", kind="deploy", actor=owner, source="slack",
                                   create=True)
    return name


def test_keep_from_slack(quiet_bot: RunningBot, quiet_engine: Engine) -> None:
    stack = a_stack(quiet_engine)
    _, response_url = quiet_bot.command(f"keep {stack} --for 2d", user=OTHER)  # anyone may keep
    answer = quiet_bot.answers(response_url)[0]
    # named, not mentioned; the time in Slack's date markup, not escaped into text
    assert f"toru kept `{stack}` until <!date^" in answer["text"] and answer["response_type"] == "ephemeral"
    record = quiet_engine.store.require_stack(stack)
    assert record.keep_until is not None and "kept" in quiet_engine.next_for(record)
    _, response_url = quiet_bot.command(f"keep {stack} --forever", user=OTHER)
    assert "only an admin may keep a stack forever" in quiet_bot.answers(response_url)[0]["text"]
    _, response_url = quiet_bot.command(f"keep {stack} --forever", user=ADMIN)
    assert "kept `" in quiet_bot.answers(response_url)[0]["text"] and "forever" in quiet_bot.answers(response_url)[0]["text"]
    assert quiet_engine.next_for(quiet_engine.store.require_stack(stack)) == "kept forever"
    _, response_url = quiet_bot.command(f"keep {stack} --for 31d")
    assert "at most 30d" in quiet_bot.answers(response_url)[0]["text"]
    keeps = [e.result for e in quiet_engine.store.events(stack) if e.action == "keep"]
    assert sorted(keeps) == ["ok", "ok", "refused"]  # the refused --forever is recorded too


def test_list_and_home_say_what_happens_next(quiet_bot: RunningBot, quiet_engine: Engine) -> None:
    stack = a_stack(quiet_engine)
    quiet_engine.store.update_stack(stack, state="running", commit="c" * 40)
    _, response_url = quiet_bot.command("list")
    assert re.search(r"sleeps in (2h|1h 59m)", texts(quiet_bot.answers(response_url)[0]["blocks"]))


@pytest.fixture
def idle_bot(make_settings, slack: SlackStandin, docker_client: docker.DockerClient) -> Iterator[RunningBot]:
    settings = slack_settings(make_settings(sleep_after=3600, reap_after=2, reap_warning=8), slack)
    engine = Engine(settings)
    engine.start()
    running = start_bot(engine, settings, slack)
    yield running
    running.close()
    names = [s.name for s in engine.list_stacks()]
    engine.close()
    for name in names:
        purge(docker_client, name)
    for app in settings.apps:
        purge(docker_client, app)


@pytest.mark.swarm
def test_a_warned_stack_kept_from_slack_survives_and_the_other_is_reaped(idle_bot: RunningBot,
                                                                       docker_client: docker.DockerClient) -> None:
    engine, slack, settings = idle_bot.bot.engine, idle_bot.slack, idle_bot.bot.settings
    kept, reaped = unique("k"), unique("r")
    succeeded(deploy(engine, kept, actor=engine_actor(OWNER)))
    succeeded(deploy(engine, reaped, actor=engine_actor(OWNER)))
    thread = idle_bot.bot.client.chat_postMessage(channel=CHANNEL, text=f"the thread of {reaped}")["ts"]
    engine.set_thread(reaped, f"{CHANNEL}:{thread}")
    scheduler = Scheduler(engine, serve_status=False).start()
    try:
        warning = wait_for(lambda: next((m for m in slack.messages(NOTIFY) if kept in m["text"] and "will be" in m["text"]),
                                        None), 60, "the warning")
        keep_ids = [e["action_id"] for b in warning["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert keep_ids == ["keep_1d", "keep_7d"]
        answer, response_url = idle_bot.click("keep_7d", kept, user=OTHER, channel=NOTIFY, message_ts=warning["ts"])
        assert answer.status_code == 200
        kept_answer = idle_bot.answers(response_url)[0]
        assert kept_answer.get("replace_original") is True and f"toru kept `{kept}`" in kept_answer["text"]
        wait_for(lambda: engine.store.get_stack(reaped) is None, 90, "the reap")
        notice = wait_for(lambda: [m for m in slack.messages(NOTIFY) if reaped in m["text"] and "was reaped" in m["text"]
                                   and "edited" not in m],  # (its warning, edited, says so too)
                          20, "the reap notice")
        assert len(notice) == 1
        wait_for(lambda: [r for r in slack.replies(CHANNEL, thread) if "was reaped" in r["text"]], 20, "said in its thread")
        assert docker_client.api.services(filters={"label": f"yadockeri.stack={reaped}"}) == []
        survivor = engine.store.require_stack(kept)
        assert survivor.state == "running" and survivor.keep_until is not None
        assert page(settings, kept)["content"] == "main-1"
        assert [e.actor for e in engine.store.events(kept) if e.action == "keep"] == [OTHER]
    finally:
        scheduler.stop()


def engine_actor(user: str):
    from stacks.engine import Actor

    return Actor(id=user, source="slack")


@pytest.mark.swarm
def test_a_killed_bot_loses_no_reap_and_reaps_nothing_twice(make_settings, slack: SlackStandin, tmp_path: Path,
                                                             docker_client: docker.DockerClient) -> None:
    settings = make_settings(sleep_after=3600, reap_after=2, reap_warning=8)
    engine = Engine(settings)
    engine.start()
    stack = unique("x")
    port = free_port()
    env = env_for_cli(settings, tmp_path)
    env.pop("SLACK_APP_TOKEN", None)
    env.update(SLACK_BOT_TOKEN=slack.bot_token, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.base_url,
               YADOCKERI_BOT_PORT=str(port), YADOCKERI_NOTIFY_CHANNEL=NOTIFY)
    process = None
    try:
        succeeded(deploy(engine, stack, actor=CLI_ADMIN))
        process = bot_process(env, port, capture=False)
        wait_for(lambda: engine.store.require_stack(stack).state == "warned", 60, "the warning")
        wait_for(lambda: [m for m in slack.messages(NOTIFY) if stack in m["text"] and "will be" in m["text"]], 20,
                 "the warning posted")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        process = bot_process(env, port, capture=False)  # a new bot: the reap is still due, and happens once
        wait_for(lambda: engine.store.get_stack(stack) is None, 120, "the reap")
        wait_for(lambda: [m for m in slack.messages(NOTIFY) if stack in m["text"] and "was reaped" in m["text"]], 20,
                 "the reap notice")
        history = engine.store.events(stack)
        assert [e.action for e in history].count("warn") == 1
        assert len([e for e in history if e.action == "destroy" and e.result == "ok"]) == 1
        notices = [m for m in slack.messages(NOTIFY) if stack in m["text"] and "was reaped" in m["text"]
                   and "edited" not in m]
        assert len(notices) == 1
        warnings = [c for c in slack.calls("chat.postMessage") if c.params.get("channel") == NOTIFY
                    and stack in str(c.params.get("text")) and "will be" in str(c.params.get("text"))]
        assert len(warnings) == 1  # posted once; the new bot found it and replaced it by what happened:
        (warning,) = [m for m in slack.messages(NOTIFY) if m["ts"] == warnings[0].response["ts"]]
        wait_for(lambda: "was reaped" in next(m for m in slack.messages(NOTIFY) if m["ts"] == warning["ts"])["text"],
                 20, "the warning replaced")
        assert through_router(settings, stack).status_code == 404
    finally:
        stop_process(process)
        engine.close()
        purge(docker_client, stack)
