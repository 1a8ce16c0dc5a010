"""The bot in HTTP mode: signed requests to the real waitress endpoint, answers through the strict
Slack stand-in. Nothing here reaches Docker (see test_bot_swarm.py for that)."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest
import requests
from slack_sdk import WebClient

from stacks.engine import Engine
from stacks.models import Deployment, Event, Stack
from stacks.store import Store
from tests.support.slack_requests import slash_command_body
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import (
    CHANNEL,
    NOTIFY,
    OWNER,
    RunningBot,
    bot_process,
    dead_runner,
    home_opened,
    slack_settings,
    start_bot,
    texts,
    wait_for,
)


def rows(store: Store) -> tuple[int, int, int]:
    return store.count(Stack), store.count(Deployment), store.count(Event)


def mutations(calls: list[tuple[str, tuple, dict]]) -> list[str]:
    return [name for name, _, _ in calls if name in ("deploy", "redeploy", "destroy", "change_env")]


# Serving ----------------------------------------------------------------------------------------
def test_healthz_and_unknown_paths(quiet_bot: RunningBot) -> None:
    assert requests.get(quiet_bot.url + "/healthz", timeout=5).status_code == 200
    assert requests.get(quiet_bot.url + "/nope", timeout=5).status_code == 404
    assert requests.get(quiet_bot.url + "/slack/events", timeout=5).status_code == 404  # Slack only POSTs


def test_bad_signature_or_old_timestamp_gets_401_and_changes_nothing(quiet_bot: RunningBot,
                                                                   quiet_engine: Engine) -> None:
    before = rows(quiet_engine.store)
    body = slash_command_body("deploy akira main", trigger_id=quiet_bot.slack.new_trigger_id())
    assert quiet_bot.send(body, secret="not-the-signing-secret").status_code == 401
    assert quiet_bot.send(body, timestamp=int(time.time()) - 6 * 60).status_code == 401
    tampered = body.replace(b"akira", b"toru_")
    answer = requests.post(quiet_bot.url + "/slack/events", data=tampered, timeout=5, headers=_signed_for(body))
    assert answer.status_code == 401
    unsigned = requests.post(quiet_bot.url + "/slack/events", data=body, timeout=5,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 401
    time.sleep(0.3)  # anything the bot would have done after an ack
    assert quiet_bot.engine_calls == []
    assert rows(quiet_engine.store) == before
    assert quiet_bot.slack.calls("chat.postMessage") == [] and quiet_bot.slack.responses() == []


def _signed_for(body: bytes) -> dict[str, str]:
    from tests.support.slack_requests import signed_headers
    from tests.test_bot_support import SECRET

    return signed_headers(SECRET, body)


# Words ------------------------------------------------------------------------------------------
def test_wrong_words_get_a_usage_answer_and_never_reach_the_engine(quiet_bot: RunningBot,
                                                                    quiet_engine: Engine) -> None:
    before = rows(quiet_engine.store)
    cases = {
        "deploy": "deploy needs STACK BRANCH",
        "deploy Akira main": "is not allowed",
        "deploy akira --branch x": "does not take",
        "deploy akira -x": "does not take",
        "deploy akira main --app Bad!": "is not allowed",
        "deploy akira ..": "is not a valid branch name",
        "frobnicate": "unknown command",
        "router": "only works on the yadockeri command line",
        "bot": "only works on the yadockeri command line",
        "env akira set lowercase-key=1": "is not allowed",
        "logs akira web extra": "logs needs",
        "deploy 'akira": "check the quotes",
        "destroy akira --yes": "does not take",
    }
    for text, expected in cases.items():
        answer, response_url = quiet_bot.command(text)
        assert answer.status_code == 200 and answer.text == "", text  # acked at once, nothing to say yet
        (usage,) = quiet_bot.answers(response_url)
        assert usage["response_type"] == "ephemeral", text
        assert expected in usage["text"], (text, usage)
        assert "/yadockeri deploy STACK BRANCH" in usage["text"] or "usage" in usage["text"], text
        assert "Traceback" not in usage["text"]
    time.sleep(0.3)
    assert mutations(quiet_bot.engine_calls) == [] and quiet_bot.engine_calls == []
    assert rows(quiet_engine.store) == before


def test_help_and_keep(quiet_bot: RunningBot) -> None:
    _, response_url = quiet_bot.command("help")
    (answer,) = quiet_bot.answers(response_url)
    assert "/yadockeri deploy STACK BRANCH" in answer["text"]
    assert "router" not in answer["text"]  # command-line verbs are not offered in Slack
    _, response_url = quiet_bot.command("help env")
    assert quiet_bot.answers(response_url)[0]["text"].startswith("```usage: /yadockeri env STACK")
    _, response_url = quiet_bot.command("keep akira --for 3d")
    assert "there is no stack named `akira`" in quiet_bot.answers(response_url)[0]["text"]
    assert [name for name, _, _ in quiet_bot.engine_calls] == []


def test_a_personal_api_token_is_shown_once_only_to_its_owner_and_revoked(quiet_bot: RunningBot,
                                                                          quiet_engine: Engine) -> None:
    from stacks.errors import PermissionDenied

    _, response_url = quiet_bot.command("token")
    (answer,) = quiet_bot.answers(response_url)
    assert answer["response_type"] == "ephemeral" and "shown this once, only to you" in answer["text"]
    token = next(word for word in answer["text"].replace("`", " ").split() if word.startswith("ydk_"))
    actor, record = quiet_engine.tokens.actor_of(token)
    assert (actor.id, actor.source, record.name) == (OWNER, f"api:@{OWNER.lower()}", f"@{OWNER.lower()}")
    _, response_url = quiet_bot.command("token revoke")
    assert "your API token is revoked" in quiet_bot.answers(response_url)[0]["text"]
    with pytest.raises(PermissionDenied):
        quiet_engine.tokens.actor_of(token)
    _, response_url = quiet_bot.command("token create ci")
    assert "token takes nothing, or `revoke`" in quiet_bot.answers(response_url)[0]["text"]


def test_list_and_status_answer_ephemerally(quiet_bot: RunningBot) -> None:
    answer, response_url = quiet_bot.command("list")
    assert answer.status_code == 200 and answer.text == ""  # acked at once, answered after
    (listed,) = quiet_bot.answers(response_url)
    assert listed["response_type"] == "ephemeral" and "No stacks yet" in listed["text"]
    answer, response_url = quiet_bot.command("status nosuchstack")
    (status,) = quiet_bot.answers(response_url)
    assert status["response_type"] == "ephemeral"
    assert "there is no stack named `nosuchstack`" in status["text"] and "Traceback" not in texts(status["blocks"])


def test_env_of_an_unknown_stack_is_refused_without_a_modal(quiet_bot: RunningBot) -> None:
    _, response_url = quiet_bot.command("env nosuchstack")
    (answer,) = quiet_bot.answers(response_url)
    assert "there is no stack named `nosuchstack`" in answer["text"]
    assert quiet_bot.slack.calls("views.open") == []


def test_channel_restriction_covers_commands_buttons_and_the_app_home(quiet_engine: Engine,
                                                                     slack: SlackStandin) -> None:
    running = start_bot(quiet_engine, slack_settings(quiet_engine.settings, slack, channels=NOTIFY), slack)
    try:
        answer, _ = running.command("list", channel=CHANNEL)
        assert "works in <#C0NOTIFY> only" in answer.json()["text"]
        answer, response_url = running.click("redeploy", "akira", channel=CHANNEL)
        assert answer.status_code == 200
        assert "works in <#C0NOTIFY> only" in running.answers(response_url)[0]["text"]
        running.event(home_opened(OWNER))
        home = wait_for(lambda: slack.home_view(OWNER), 10, "a published home")
        assert "works in <#C0NOTIFY> only" in texts(home["blocks"]) and "redeploy" not in texts(home["blocks"])
        answer, response_url = running.command("list", channel=NOTIFY)
        assert "No stacks yet" in running.answers(response_url)[0]["text"]
        assert mutations(running.engine_calls) == []
    finally:
        running.close()


def test_app_home_lists_stacks_with_their_buttons(quiet_bot: RunningBot, quiet_engine: Engine) -> None:
    for index in range(35):  # more than one page of the home tab
        quiet_engine.store.create_deployment(stack=f"s{index:02d}", app="demo", branch="main", kind="deploy",
                                             actor=OWNER, source="slack", create=True)
    assert quiet_bot.event(home_opened(OWNER)).status_code == 200
    home = wait_for(lambda: quiet_bot.slack.home_view(OWNER), 10, "a published home")
    text = texts(home["blocks"])
    assert "stacks: 35 (0 running, 0 asleep), no limit" in text  # the summary's count
    assert "s00" in text and "s29" in text and "s30" not in text
    assert len(home["blocks"]) <= 100
    actions = [b for b in home["blocks"] if b["type"] == "actions" and b["block_id"] == "stack:s00"]
    assert [e["action_id"] for e in actions[0]["elements"]] == ["redeploy", "env", "logs", "destroy"]
    next_page = next(e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]
                     if e["action_id"] == "home_page_next")
    quiet_bot.click("home_page_next", next_page["value"], view=home)

    def page_two_shown() -> bool:
        view = quiet_bot.slack.home_view(OWNER)
        assert view is not None  # published above
        return "s30" in texts(view["blocks"])

    wait_for(page_two_shown, 10, "page 2")


def test_deploy_form_errors_come_back_on_the_right_field(quiet_bot: RunningBot) -> None:
    answer, _ = quiet_bot.command("")
    assert answer.status_code == 200
    opened = quiet_bot.slack.wait_for_call("views.open", 5)
    assert opened.ok, opened.response
    view = opened.response["view"]
    assert view["callback_id"] == "deploy" and [b.get("block_id") for b in view["blocks"]][-2:] == ["stack", "branch"]

    def submit(stack: str, branch: str) -> dict[str, Any]:
        reply = quiet_bot.submit(view, {"stack": {"value": stack}, "branch": {"value": branch}})
        assert reply.status_code == 200
        return reply.json()

    assert set(submit("Not_A_Name", "main")["errors"]) == {"stack"}
    assert set(submit("akira", "-rf")["errors"]) == {"branch"}
    assert set(submit("router", "a..b")["errors"]) == {"stack", "branch"}
    assert mutations(quiet_bot.engine_calls) == []


def test_deployments_interrupted_by_a_restart_say_so_in_their_thread(slack: SlackStandin, tmp_path) -> None:
    from stacks.config import AppConfig, Settings

    repo = tmp_path / "repo"
    repo.mkdir()
    settings = Settings(data_dir=tmp_path / "data", apps={"demo": AppConfig(repo=str(repo))})
    first = Engine(settings)
    first.start()
    client = WebClient(token=slack.bot_token, base_url=slack.base_url)
    root = client.chat_postMessage(channel=CHANNEL, text="deploy of akira")["ts"]
    message = client.chat_postMessage(channel=CHANNEL, text="redeploy of akira: build", thread_ts=root)["ts"]
    deployment, _ = first.store.create_deployment(stack="akira", app="demo", branch="main", kind="redeploy",
                                                  actor=OWNER, source="slack", create=True)
    first.set_thread("akira", f"{CHANNEL}:{root}")
    first.set_deployment_message(deployment.id, f"{CHANNEL}:{message}")
    first.store.claim_deployment(deployment.id, dead_runner())  # its process died
    first.close()

    restarted = Engine(settings)
    assert [d.id for d in restarted.start()] == [deployment.id]
    running = start_bot(restarted, slack_settings(settings, slack), slack)
    try:
        note = wait_for(lambda: [m for m in slack.replies(CHANNEL, root)
                                 if f"deployment #{deployment.id}" in m["text"] and m["ts"] != message], 10,
                        "a note in the thread")
        # a slash command cannot be typed in a thread: the note says what can (a mention), and tells the requester
        assert "interrupted" in note[0]["text"] and "`@yadockeri redeploy akira`" in note[0]["text"]
        assert "/yadockeri" not in note[0]["text"] and f"<@{OWNER}>" in note[0]["text"]
        wait_for(lambda: "interrupted" in next(m for m in slack.messages(CHANNEL) if m["ts"] == message)["text"],
                 10, "the deployment's own message marked")
        notice = wait_for(lambda: slack.messages(NOTIFY), 10, "a notify line")
        assert "interrupted" in notice[0]["text"] and "akira" in notice[0]["text"]
        assert "<@" not in notice[0]["text"]  # the notify channel names the requester, pings nobody
    finally:
        running.close()
        restarted.close()


# `yadockeri bot`, the command ------------------------------------------------------------------
def _stop(process: subprocess.Popen[str]) -> str:
    import signal

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return output


@pytest.mark.swarm  # the bot's scheduler connects to Docker (it follows the router's log)
def test_yadockeri_bot_serves_http_mode_and_stops_on_sigterm(quiet_engine: Engine, slack: SlackStandin,
                                                             tmp_path) -> None:
    from tests.conftest import env_for_cli, free_port
    from tests.test_bot_support import SECRET

    port = free_port()
    env = env_for_cli(quiet_engine.settings, tmp_path)
    env.pop("SLACK_APP_TOKEN", None)
    env.update(SLACK_BOT_TOKEN=slack.bot_token, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.base_url,
               YADOCKERI_BOT_PORT=str(port))
    process = bot_process(env, port)
    try:
        response_url = slack.new_response_url()
        body = slash_command_body("list", response_url=response_url)
        answer = requests.post(f"http://127.0.0.1:{port}/slack/events", data=body, timeout=5,
                               headers=_signed_for(body))
        assert answer.status_code == 200
        wait_for(lambda: slack.responses(response_url), 10, "the list")
        assert "No stacks yet" in slack.responses(response_url)[0].payload["text"]
    finally:
        output = _stop(process)
    assert "HTTP mode on 0.0.0.0:" in output and "Traceback" not in output  # Slack must reach it


@pytest.mark.swarm  # the bot's scheduler connects to Docker (it follows the router's log)
def test_yadockeri_bot_uses_socket_mode_when_an_app_token_is_set(quiet_engine: Engine, slack: SlackStandin,
                                                                tmp_path) -> None:
    from tests.conftest import env_for_cli, free_port
    from tests.support.slack_requests import slash_command_payload

    port = free_port()
    env = env_for_cli(quiet_engine.settings, tmp_path)
    env.update(SLACK_BOT_TOKEN=slack.bot_token, SLACK_APP_TOKEN=slack.app_token, SLACK_API_URL=slack.base_url,
               YADOCKERI_BOT_PORT=str(port))
    env.pop("SLACK_SIGNING_SECRET", None)
    process = bot_process(env, port)
    try:
        assert slack.socket_mode is not None
        slack.socket_mode.wait_connected()
        response_url = slack.new_response_url()
        envelope = slack.socket_mode.send_envelope("slash_commands", slash_command_payload("help",
                                                                                           response_url=response_url))
        slack.socket_mode.wait_for_ack(envelope, timeout=3)
        wait_for(lambda: slack.responses(response_url), 10, "the usage")
        assert "/yadockeri deploy STACK BRANCH" in slack.responses(response_url)[0].payload["text"]
    finally:
        output = _stop(process)
    assert "Socket Mode connected" in output and "Traceback" not in output
