"""Untrusted text in Slack: a commit subject, an error, a log tail or a branch that carries
`@channel`, `<!channel>`, link markup, bare URLs and terminal escapes reaches Slack inert, in
verbatim text objects, and the notification text of a message parses no mention and no link.
The real bot (outbox, reporter, HTTP endpoint) against the strict Slack stand-in; no Docker."""

from __future__ import annotations

import json
from typing import Any

from bot.asker import Asker
from bot.progress import SlackReporter
from bot.text import esc, fallback
from stacks.engine import Engine, StackEvent
from tests.support.slack_standin import SlackStandin
from tests.test_bot_support import (
    CHANNEL,
    NOTIFY,
    OWNER,
    RunningBot,
    texts,
    wait_for,
)

HOSTILE = "@channel @here <!channel> <!here|here> <https://evil.example|click> https://evil.example/x www.evil.example " \
          "\x1b[31mred\x1b[0m \x1b]0;pwned\x07 \x1b]52;c;ZXZpbA==\x07 \u202eevil\u200b"
CONTROLS = ("\x1b", "\x07", "\u202e", "\u200b")
RAW = (*CONTROLS, "<!channel>", "<!here", "<https://evil", "@channel", "@here")


def mrkdwn_objects(value: Any) -> list[dict]:
    """Every mrkdwn text object in some blocks, views or payloads."""
    found: list[dict] = []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            found.append(value)
        for item in value.values():
            found += mrkdwn_objects(item)
    elif isinstance(value, list):
        for item in value:
            found += mrkdwn_objects(item)
    return found


def assert_inert_in_slack(slack: SlackStandin) -> None:
    """What the bot sent Slack (every call, every response_url post, every file) carries no
    raw mention, link markup or escape; every mrkdwn text is verbatim; and every top-level
    `text` (parsed by Slack without verbatim) has no URL or domain Slack could link."""
    calls = [c.params for c in slack.calls() if c.method.startswith(("chat.", "views.", "files."))]
    posts = [r.payload for r in slack.responses()]
    sent = json.dumps([calls, posts], ensure_ascii=False, default=str)
    assert not [r for r in RAW if r in sent], [r for r in RAW if r in sent]
    files = "".join((f.content or b"").decode("utf-8", "replace") for f in slack.files())
    assert not [r for r in CONTROLS if r in files]  # a file is plain text, never parsed: inert is enough
    objects = mrkdwn_objects([calls, posts])
    assert objects and all(o.get("verbatim") is True for o in objects), [o for o in objects if not o.get("verbatim")]
    for params in [*calls, *posts]:
        value = params.get("text")
        text = value if isinstance(value, str) else ""
        assert "evil.example" not in text and "https://evil" not in text, text


def test_esc_and_fallback_leave_nothing_to_parse() -> None:
    escaped = esc(HOSTILE)
    assert "<" not in escaped and "\x1b" not in escaped and "\u202e" not in escaped
    assert "＠channel" in escaped and "＠here" in escaped and "&lt;!channel&gt;" in escaped
    shown = fallback(f":x: <@{OWNER}> deployed <https://akira.y.localhost|akira>: {escaped}")
    assert f"<@{OWNER}>" in shown and "<https://akira.y.localhost|akira>" in shown  # ours stay
    assert "https[:]//evil[.]example" in shown and "www[.]evil[.]example" in shown
    assert fallback("<!channel> <!subteam^S1|@devs> took 4.2s v1.2.3") == "＠channel ＠subteam took 4.2s v1.2.3"


def test_a_failed_deployment_and_its_notice_reach_slack_inert(quiet_bot: RunningBot, quiet_engine: Engine) -> None:
    store = quiet_engine.store
    deployment, _ = store.create_deployment(stack="akira", app="demo", branch="main", kind="deploy", actor=OWNER,
                                            source="slack", create=True)
    tail = "\n".join([f"#{n} step {n}" for n in range(40)] + [f"#41 RUN echo {HOSTILE}", HOSTILE])
    reporter = SlackReporter(quiet_bot.bot, Asker(quiet_bot.bot, OWNER, CHANNEL))
    reporter.queued(deployment)
    reporter.started(deployment)
    reporter.step(deployment.id, "fetch", "running", None, None)
    reporter.step(deployment.id, "fetch", "ok", 0.4, f"main at 0123456789ab: {HOSTILE}")  # the commit subject
    reporter.step(deployment.id, "build", "running", None, None)
    reporter.step(deployment.id, "build", "failed", 3.2, HOSTILE)
    store.finish_deployment(deployment.id, "failed", error=f"build failed: {HOSTILE}\n{HOSTILE}", log_tail=tail)
    final = store.get_deployment(deployment.id)
    reporter.finished(final, [])
    quiet_bot.bot.on_event(StackEvent("failed", "akira", OWNER, final.error, final))

    slack = quiet_bot.slack
    wait_for(lambda: slack.messages(NOTIFY), 10, "the notice")
    wait_for(lambda: slack.files(), 10, "the log tail attached")
    assert reporter.post is not None and reporter.details is not None
    reporter.post.wait(10)
    reporter.details.wait(10)
    (message,) = [m for m in slack.messages(CHANNEL) if "thread_ts" not in m]
    assert "failed" in message["text"] and "evil" in texts(message["blocks"])  # shown, as text
    assert "evil" in slack.messages(NOTIFY)[0]["text"]
    assert_inert_in_slack(slack)


def test_answers_to_signed_requests_are_inert(quiet_bot: RunningBot, quiet_engine: Engine) -> None:
    quiet_engine.store.create_deployment(stack="akira", app="demo", branch=f"feature {HOSTILE}", kind="deploy",
                                         actor=OWNER, source="slack", create=True)
    _, response_url = quiet_bot.command("list")
    listed = quiet_bot.answers(response_url)[0]
    assert "feature" in texts(listed["blocks"])
    _, response_url = quiet_bot.command(f"deploy akira {HOSTILE}")  # refused, and the refusal quotes it
    assert "too many words" in quiet_bot.answers(response_url)[0]["text"]
    assert_inert_in_slack(quiet_bot.slack)


def test_every_builder_keeps_hostile_text_inert() -> None:
    from bot.blocks.common import as_dicts
    from bot.blocks.deployment import (
        KIND_WORDS,
        Progress,
        StepLine,
        cancelled_answer,
        details_message,
        kept_message,
        notice_line,
        progress_message,
        started_answer,
        warning_message,
    )
    from bot.blocks.home import home_view
    from bot.blocks.modals import env_modal
    from bot.blocks.stacks import list_message, logs_message, plain_message, status_message
    from bot.text import error_text, named
    from stacks.engine import ServiceState, StackStatus
    from stacks.secrets import mask
    from tests.test_bot_blocks import deployment_record, stack_record

    record = stack_record("akira", branch=HOSTILE, owner="cli:" + HOSTILE)
    hostile_name = named(OWNER, HOSTILE)  # a display name is anyone's to choose
    built: list[tuple[str, list]] = []
    for state in ("queued", "running", "succeeded", "failed", "interrupted"):
        progress = Progress(1, "akira", "deploy", HOSTILE, "cli:" + HOSTILE, state=state, error=HOSTILE,
                            steps=[StepLine("fetch", "ok", 0.1, HOSTILE), StepLine(HOSTILE, "failed", 1.0, HOSTILE)],
                            urls=["http://akira.y.localhost"], commit="0123456789abcdef")
        built += [progress_message(progress), details_message(progress, HOSTILE + "\n" + HOSTILE, tail_attached=True),
                  progress_message(progress, lambda actor: hostile_name),
                  plain_message(started_answer(progress, "<#C123>", hostile_name))]
    for kind in [*KIND_WORDS, "created", "failed", "warned", "kept", "reaped", HOSTILE]:
        built.append(plain_message(notice_line(kind, "akira", "cli:" + HOSTILE, HOSTILE, 3)))
        built.append(plain_message(notice_line(kind, "akira", OWNER, HOSTILE, 3, by=hostile_name)))
    status = StackStatus(stack=record, urls=["http://akira.y.localhost"],
                         deployments=[deployment_record(1, error=HOSTILE, branch=HOSTILE, requested_by=HOSTILE)],
                         services=[ServiceState("akira_web", "process", 0, 1, HOSTILE)], env_keys=["A"], next=HOSTILE)
    built += [status_message(status), list_message([record], {"akira": "http://akira.y.localhost"}, next_={"akira": HOSTILE}),
              logs_message("akira", "web", [HOSTILE] * 3), warning_message("akira", HOSTILE, HOSTILE),
              kept_message("akira", hostile_name, None), plain_message(cancelled_answer("akira", hostile_name)),
              plain_message(f":warning: {error_text(HOSTILE)}")]
    payloads: list[Any] = [{"text": fallback(text), "blocks": as_dicts(blocks)} for text, blocks in built]
    payloads.append(home_view([record], {"akira": "http://akira.y.localhost"}, next_={"akira": HOSTILE}).to_dict())
    payloads.append(env_modal("akira", {"KEY": mask("\x1b]0;" + HOSTILE)}, channel=CHANNEL).to_dict())
    sent = json.dumps(payloads, ensure_ascii=False)
    assert not [r for r in RAW if r in sent], [r for r in RAW if r in sent]
    objects = mrkdwn_objects(payloads)
    assert objects and all(o.get("verbatim") is True for o in objects)
    assert all("evil.example" not in p["text"] for p in payloads if isinstance(p.get("text"), str))
