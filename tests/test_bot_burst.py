"""20 deploys asked for at once from Slack, against the stand-in's real rate limits (each method
limited per workspace by its tier, about one post a second per channel): every deployment's
message reaches its final state, each once; a 429, if one comes, is honoured (nothing more of
its kind before its Retry-After). Real engine, swarm and router; signed requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.outbox import MessageRef
from stacks.config import Settings
from stacks.engine import Engine
from tests.conftest import unique
from tests.support.slack_standin import RecordedCall, SlackStandin
from tests.test_bot_support import CHANNEL, RunningBot, top_level, wait_for

pytestmark = pytest.mark.swarm

DEPLOYS = 20


def ended_and_told(engine: Engine, stacks: list[str]) -> bool:
    deployments = [d for stack in stacks for d in engine.store.deployments(stack, limit=3)]
    return len(deployments) == len(stacks) and all(d.state not in ("queued", "running") for d in deployments) \
        and not engine.store.pending_messages()


def key(call: RecordedCall) -> str:
    return f"{call.method} {call.params.get('channel')}" if call.method == "chat.postMessage" else call.method


def test_twenty_deploys_at_once_all_reach_their_final_state_within_slacks_limits(
        bot: RunningBot, engine: Engine, settings: Settings, slack: SlackStandin) -> None:
    stacks = [unique("b") for _ in range(DEPLOYS)]
    with ThreadPoolExecutor(max_workers=DEPLOYS) as pool:
        answers = list(pool.map(lambda stack: bot.command(f"deploy {stack} main")[0], stacks))
    assert [a.status_code for a in answers] == [200] * DEPLOYS
    wait_for(lambda: ended_and_told(engine, stacks), 900, "every deploy ended and told in Slack")

    for stack in stacks:
        (deployment,) = engine.store.deployments(stack, limit=3)
        assert deployment.state == "succeeded", (stack, deployment.error)
        ref = MessageRef.parse(deployment.message)
        assert ref is not None and ref.channel == CHANNEL
        (message,) = [m for m in top_level(slack) if m["ts"] == ref.ts]
        assert "is up" in message["text"] and settings.stack_url(stack) in message["text"]
        assert len([m for m in top_level(slack) if settings.stack_url(stack) in m["text"]]) == 1

    calls = slack.calls()
    for refused in (c for c in calls if c.status == 429):
        retry_after = refused.retry_after or 1.0
        too_soon = [c for c in calls if key(c) == key(refused) and refused.at < c.at < refused.at + retry_after - 0.05]
        assert too_soon == [], f"{key(refused)} called again before its Retry-After"
    print(f"{len(calls)} Web API calls, {sum(c.status == 429 for c in calls)} answered 429")
