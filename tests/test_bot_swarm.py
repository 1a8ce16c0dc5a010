"""End to end: signed Slack requests to the bot's real HTTP endpoint, the real engine, swarm and
router, the strict Slack stand-in. Every stack is named uniquely; the engine fixture removes them."""

from __future__ import annotations

import hashlib

import docker
import pytest

from stacks.config import Settings
from stacks.engine import Engine
from tests.conftest import CLI_ADMIN, unique
from tests.support.helpers import files_containing, page, through_router
from tests.support.sample_app import SampleRepo
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import (
    CHANNEL,
    NOTIFY,
    OTHER,
    OWNER,
    PRIVATE,
    RunningBot,
    assert_update_rate,
    everything_sent,
    texts,
    top_level,
    updates_of,
    wait_for,
)

pytestmark = pytest.mark.swarm

DEPLOY_WAIT = 240


def message_saying(slack: SlackStandin, ts: str, words: str, channel: str = CHANNEL) -> dict | None:
    found = next((m for m in slack.messages(channel) if m["ts"] == ts), None)
    return found if found is not None and words in found["text"] else None


def deployed(bot: RunningBot, settings: Settings, stack: str, *, user: str = OWNER) -> dict:
    """`/yadockeri deploy STACK main`, signed; returns its one message once it says the stack is up."""
    answer, _ = bot.command(f"deploy {stack} main", user=user)
    assert answer.status_code == 200 and answer.text == ""  # acked, nothing to say yet
    url = settings.stack_url(stack)
    return wait_for(lambda: next((m for m in top_level(bot.slack) if url in m["text"] and "is up" in m["text"]), None),
                    DEPLOY_WAIT, f"{stack} is up")


def buttons(message: dict) -> dict[str, dict]:
    return {e["action_id"]: e for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]}


def test_deploy_from_slack_then_redeploy_logs_and_destroy(bot: RunningBot, engine: Engine, settings: Settings,
                                                        sample_repo: SampleRepo,
                                                        docker_client: docker.DockerClient) -> None:
    noisy = " ".join(f"log-line-{n}-" + "x" * 40 for n in range(80))
    sample_repo.write({".yadockeri.yml": f"processes:\n  web: {{command: 'for l in {noisy}; do echo $l; done; "
                                        "exec httpd -f -v -p $PORT -h /www'}\nenv:\n  GREETING: from-spec\n"})
    sample_repo.commit("a web process that logs a lot")
    slack = bot.slack
    stack = unique("s")
    message = deployed(bot, settings, stack)
    ts, url = message["ts"], settings.stack_url(stack)

    # one message, updated in place, ending with the URL and the buttons
    assert len(top_level(slack)) == 1
    assert updates_of(slack, ts), "the message was never updated"
    assert page(settings, stack)["content"] == "main-1"  # the URL answers through the router
    found = buttons(message)
    assert found["open"]["url"] == url
    assert {found[a]["value"] for a in ("redeploy", "env", "logs", "destroy")} == {stack}
    assert found["destroy"]["confirm"]["confirm"]["text"] == "Destroy"
    assert engine.stack(stack).thread == f"{CHANNEL}:{ts}"
    (first,) = engine.store.deployments(stack)
    assert first.message == f"{CHANNEL}:{ts}" and first.requested_by == OWNER and first.source == "slack"
    details = wait_for(lambda: [r for r in slack.replies(CHANNEL, ts) if "✓ fetch" in texts(r.get("blocks"))], 10,
                       "details")
    assert "✓ build" in texts(details[0]["blocks"]) and "Deployment #" in details[0]["text"]
    notice = wait_for(lambda: slack.messages(NOTIFY), 10, "a notify line")
    assert "created" in notice[0]["text"] and stack in notice[0]["text"]

    # anyone may redeploy: its message goes into the stack's thread, not the channel
    answer, _ = bot.click("redeploy", stack, user=OTHER, message_ts=ts)
    assert answer.status_code == 200
    wait_for(lambda: [r for r in slack.replies(CHANNEL, ts) if "is up" in r["text"]], DEPLOY_WAIT, "the redeploy")
    assert len(top_level(slack)) == 1
    assert [d.kind for d in engine.store.deployments(stack)] == ["redeploy", "deploy"]

    # status and logs answer the asker only
    _, response_url = bot.command(f"status {stack}")
    assert "Services" in texts(bot.answers(response_url)[0]["blocks"])
    _, response_url = bot.click("logs", stack, message_ts=ts)
    logs = bot.answers(response_url)[0]
    assert logs["response_type"] == "ephemeral" and "log lines" in logs["text"]
    (log_file,) = wait_for(lambda: [f for f in slack.files() if f.filename == f"{stack}-web.log"], 10, "a log file")
    assert log_file.thread_ts == ts and b"log-line-79-" in (log_file.content or b"")
    assert "in <https://" in logs["text"] and "the log file" in logs["text"]
    _, response_url = bot.command(f"logs {stack} web")
    assert "the log file" in bot.answers(response_url)[0]["text"]

    # a non-owner's Destroy changes nothing
    answer, response_url = bot.click("destroy", stack, user=OTHER, message_ts=ts)
    assert answer.status_code == 200
    refused = bot.answers(response_url)[0]
    assert refused["response_type"] == "ephemeral" and "only the owner" in refused["text"]
    assert f"<@{OWNER}>" in refused["text"] and "Traceback" not in refused["text"]
    assert engine.store.require_stack(stack).state == "running"
    assert "destroy" not in [d.kind for d in engine.store.deployments(stack)]
    assert page(settings, stack)["content"] == "main-1"

    # the owner's Destroy (after the confirm dialog) removes the stack
    bot.click("destroy", stack, message_ts=ts)
    wait_for(lambda: engine.store.get_stack(stack) is None, DEPLOY_WAIT, "the stack destroyed")
    assert docker_client.api.services(filters={"label": f"yadockeri.stack={stack}"}) == []
    assert through_router(settings, stack).status_code == 404
    wait_for(lambda: [r for r in slack.replies(CHANNEL, ts) if "was destroyed" in r["text"]], 10, "destroyed said")
    wait_for(lambda: any("destroyed" in m["text"] for m in slack.messages(NOTIFY)), 10, "destroyed notice")
    assert_update_rate(slack)


def test_env_modal_round_trip_reaches_the_app_and_never_shows_the_value(
        bot: RunningBot, engine: Engine, settings: Settings) -> None:
    slack = bot.slack
    stack = unique("e")
    ts = deployed(bot, settings, stack)["ts"]
    assert page(settings, stack)["greeting"] == "from-spec"
    canary = "canary-" + hashlib.sha1(stack.encode()).hexdigest()

    answer, _ = bot.command(f"env {stack}")
    assert answer.status_code == 200
    opened = slack.wait_for_call("views.open", 5)
    assert opened.ok, opened.response
    view = opened.response["view"]
    assert view["callback_id"] == "env" and "remove" not in [b.get("block_id") for b in view["blocks"]]

    reply = bot.submit(view, {"add": {"value": "1BAD=x"}})  # an invalid key: an error on that field
    assert reply.json()["response_action"] == "errors" and set(reply.json()["errors"]) == {"add"}

    reply = bot.submit(view, {"add": {"value": f"SECRET_TOKEN={canary}\nGREETING=from-slack"}}, user=OTHER)
    assert reply.json()["response_action"] == "update"  # accepted as input, then refused by the engine
    wait_for(lambda: "only the owner" in texts(slack.view(view["id"])["blocks"]), 10, "the refusal in the modal")
    assert engine.env(stack) == {}

    reply = bot.submit(view, {"add": {"value": f"SECRET_TOKEN={canary}\nGREETING=from-slack"}})
    assert reply.json()["response_action"] == "update"
    note = wait_for(lambda: [r for r in slack.replies(CHANNEL, ts) if "applied without a rebuild" in r["text"]],
                    DEPLOY_WAIT, "the env rollout in the thread")
    assert "`GREETING`" in texts(note[0]["blocks"]) and "`SECRET_TOKEN`" in texts(note[0]["blocks"])
    shown = page(settings, stack)
    assert shown["greeting"] == "from-slack"
    assert shown["secret_sha256"] == hashlib.sha256(canary.encode()).hexdigest()
    latest = engine.store.deployments(stack, limit=1)[0]
    assert latest.kind == "env" and "build" not in {s.name for s in latest.steps}
    assert "changed: `GREETING`, `SECRET_TOKEN`" in texts(slack.view(view["id"])["blocks"])

    # again: keys listed with masked values; removing one goes back to the spec's default
    bot.command(f"env {stack}")
    second = wait_for(lambda: [c for c in slack.calls("views.open") if c.ok][1:], 5, "a second modal")[0]
    view = second.response["view"]
    hints = {b["block_id"]: b["hint"]["text"] for b in view["blocks"] if b.get("block_id", "").startswith("set:")}
    assert set(hints) == {"set:GREETING", "set:SECRET_TOKEN"} and hints["set:SECRET_TOKEN"] == "now ••••••"
    reply = bot.submit(view, {"remove": {"value": {"type": "multi_static_select", "selected_options": [
        {"text": {"type": "plain_text", "text": "GREETING"}, "value": "GREETING"}]}}})
    assert reply.json()["response_action"] == "update"
    wait_for(lambda: page(settings, stack)["greeting"] == "from-spec", DEPLOY_WAIT, "GREETING removed")

    assert canary not in everything_sent(slack)
    assert files_containing(settings.data_dir, canary) == []
    assert_update_rate(slack)


def test_a_deploy_that_must_wait_says_who_holds_the_stack(bot: RunningBot, engine: Engine, settings: Settings,
                                                          sample_repo: SampleRepo) -> None:
    sample_repo.write({"Dockerfile": "FROM busybox:latest\nCOPY www /www\nRUN chmod +x /www/cgi-bin/index.cgi && sleep 4\n"
                                     'CMD ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]\n'})
    sample_repo.commit("slow build")
    stack = unique("w")
    first = engine.deploy(stack, "main", CLI_ADMIN)
    answer, _ = bot.command(f"redeploy {stack}")
    assert answer.status_code == 200
    said = wait_for(lambda: [c for c in bot.slack.calls() if c.method in ("chat.postMessage", "chat.update")
                             and "waits" in str(c.params.get("text"))], 60, "a waiting message")
    assert "`cli:test`" in said[0].params["text"] and f"#{first.deployment.id}" in said[0].params["text"]
    wait_for(lambda: any("is up" in m["text"] for m in bot.slack.messages(CHANNEL)), DEPLOY_WAIT, "the redeploy")
    assert first.future.result(10).state == "succeeded"


def test_a_failed_deploy_says_where_and_puts_the_log_tail_in_its_thread(bot: RunningBot, engine: Engine,
                                                                       settings: Settings,
                                                                       sample_repo: SampleRepo) -> None:
    lines = " ".join(str(n) for n in range(1, 41))
    sample_repo.write({"Dockerfile": f"FROM busybox:latest\nRUN for n in {lines}; do echo build-line-$n; done; exit 3\n"})
    sample_repo.commit("broken build")
    stack = unique("f")
    bot.command(f"deploy {stack} main")
    message = wait_for(lambda: next((m for m in top_level(bot.slack) if "failed" in m["text"]), None),
                       DEPLOY_WAIT, "the failure")
    assert "at step *build*" in message["text"]
    assert {"redeploy", "env", "logs", "destroy"} <= set(buttons(message)) and "open" not in buttons(message)
    tail = wait_for(lambda: [r for r in bot.slack.replies(CHANNEL, message["ts"]) if "Last lines" in texts(r.get("blocks"))],
                    10, "the log tail")
    assert "build-line-40" in texts(tail[0]["blocks"])
    attached = wait_for(lambda: bot.slack.files(), 10, "the whole tail attached")
    assert b"build-line-1\n" in attached[0].content and attached[0].thread_ts == message["ts"]
    wait_for(lambda: any("failed" in m["text"] for m in bot.slack.messages(NOTIFY)), 10, "failed notice")
    assert engine.store.require_stack(stack).state == "failed"


def test_a_hostile_commit_subject_and_build_output_reach_slack_inert(bot: RunningBot, engine: Engine,
                                                                     sample_repo: SampleRepo) -> None:
    from tests.test_bot_untrusted import HOSTILE, assert_inert_in_slack

    sample_repo.write({"Dockerfile": "FROM busybox:latest\n"
                                     "RUN printf '\\033]0;pwned\\007 @channel <!channel> <https://evil.example|click> "
                                     "\\033[31mred\\033[0m https://evil.example/x\\n'; exit 3\n"})
    sample_repo.commit("fix " + HOSTILE)
    stack = unique("h")
    bot.command(f"deploy {stack} main")
    message = wait_for(lambda: next((m for m in top_level(bot.slack) if "failed" in m["text"]), None),
                       DEPLOY_WAIT, "the failure")
    wait_for(lambda: [r for r in bot.slack.replies(CHANNEL, message["ts"]) if "Last lines" in texts(r.get("blocks"))],
             10, "the log tail")
    wait_for(lambda: any("failed" in m["text"] for m in bot.slack.messages(NOTIFY)), 10, "failed notice")
    shown = texts([r.get("blocks") for r in bot.slack.replies(CHANNEL, message["ts"])])
    assert "evil" in shown and "＠channel" in shown  # the subject and the output are shown, as text
    assert_inert_in_slack(bot.slack)


def test_the_deploy_form_where_the_bot_is_not_in_the_channel(bot: RunningBot, engine: Engine,
                                                            settings: Settings) -> None:
    slack = bot.slack
    answer, _ = bot.command("", channel=PRIVATE)  # /yadockeri alone: the deploy form
    assert answer.status_code == 200
    view = slack.wait_for_call("views.open", 5).response["view"]
    stack = unique("m")
    reply = bot.submit(view, {"stack": {"value": stack}, "branch": {"value": "main"}})
    assert reply.json()["response_action"] == "update" and stack in str(reply.json()["view"])
    url = settings.stack_url(stack)
    # it cannot post in that channel: the deploy's message goes to the notify channel instead ...
    message = wait_for(lambda: next((m for m in top_level(slack, NOTIFY) if "is up" in m["text"]), None),
                       DEPLOY_WAIT, "the deploy in the notify channel")
    assert url in message["text"] and engine.stack(stack).thread == f"{NOTIFY}:{message['ts']}"
    # ... and the form tells the user where, then how it ended
    wait_for(lambda: "is up" in texts(slack.view(view["id"])["blocks"]), 10, "the end in the form")
    told = [c.params["view"] for c in slack.calls("views.update") if c.params.get("view_id") == view["id"]]
    assert any("<#C0NOTIFY>" in texts(v["blocks"]) for v in told)
    assert page(settings, stack)["content"] == "main-1"
    assert slack.messages(PRIVATE) == []


def test_a_branch_that_does_not_exist(bot: RunningBot, engine: Engine, settings: Settings) -> None:
    stack = unique("n")
    bot.command(f"deploy {stack} no-such-branch")
    message = wait_for(lambda: next((m for m in top_level(bot.slack) if "failed" in m["text"]), None),
                       DEPLOY_WAIT, "the failure")
    assert "no-such-branch" in message["text"] and "Traceback" not in str(message)
    assert engine.store.get_stack(stack) is None  # a wrong branch makes no stack


def test_a_mention_in_a_thread_deploys_once_although_slack_delivered_it_twice(
        bot: RunningBot, engine: Engine, settings: Settings) -> None:
    from tests.test_bot_mentions import THREAD_TS, mention

    stack = unique("m")
    event = mention(f"deploy {stack} main", ts="1700000600.000100", thread_ts=THREAD_TS)
    assert bot.event(event, event_id="Ev0DEPLOY1").status_code == 200
    assert bot.event(event, event_id="Ev0DEPLOY1", retry=1).status_code == 200  # Slack's retry, same event id
    url = settings.stack_url(stack)
    wait_for(lambda: next((m for m in top_level(bot.slack) if url in m["text"] and "is up" in m["text"]), None),
             DEPLOY_WAIT, f"{stack} is up")
    assert len(engine.store.deployments(stack, limit=10)) == 1
    assert through_router(settings, stack).status_code == 200
    said = [r["text"] for r in bot.slack.replies(CHANNEL, THREAD_TS)]
    assert len([t for t in said if stack in t]) == 1, said  # one answer in the mention's thread
