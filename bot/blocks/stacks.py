"""Answers about stacks: list (paginated), status, logs, the destroy prompt."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, DividerBlock

from stacks.capacity import Capacity, summary_lines
from stacks.engine import StackStatus
from stacks.store import StackRecord

from ..text import ago, code, code_block, duration, esc, first_line, link, named, who
from .common import DESTROY_CANCEL, DESTROY_CONFIRMED, STATUS, context, pager, pages_of, section, stack_actions
from .deployment import Person

LIST_PAGE = 40  # 1 + summary (1) + 40 + pager (2) <= 50 blocks of a message
LOGS_INLINE_MAX = 2900
STATE_MARKS = {"running": ":large_green_circle:", "deploying": ":large_blue_circle:", "failed": ":red_circle:",
               "sleeping": ":zzz:", "warned": ":warning:", "destroying": ":wastebasket:"}


def stack_line(stack: StackRecord, url: str, now: datetime | None = None, next_: str = "",
               person: Person = who) -> str:
    """One stack: state, branch, owner, last activity and what happens next (`sleeps in 1h`)."""
    mark = STATE_MARKS.get(stack.state, ":white_circle:")
    commit = f" at {code(stack.commit[:12])}" if stack.commit else ""
    upcoming = f" · {esc(next_)}" if next_ else ""
    return (f"{mark} *{link(url, stack.name)}* · {esc(stack.state)}\n"
            f"{code(stack.branch)}{commit} · {code(stack.app)} · owner {person(stack.owner)} · "
            f"last activity {ago(stack.last_activity_at, now)}{upcoming}")


def capacity_text(capacity: Capacity) -> str:
    """The summary of `list --summary` on one line (stacks, router network, per person)."""
    return " · ".join(esc(line) for line in summary_lines(capacity))


def summary_message(capacity: Capacity) -> tuple[str, list[Block]]:
    """The answer to `list --summary`."""
    lines = summary_lines(capacity)
    return lines[0], [section("\n".join(esc(line) for line in lines))]


def list_message(stacks: list[StackRecord], urls: dict[str, str], page: int = 0, now: datetime | None = None,
                 next_: dict[str, str] | None = None, person: Person = named,
                 capacity: Capacity | None = None) -> tuple[str, list[Block]]:
    """A page of stacks; owners are named, not mentioned (the answer may be a reply in a thread);
    with the capacity as a context line under the head."""
    summary: list[Block] = [context(capacity_text(capacity))] if capacity is not None else []
    if not stacks:
        text = "No stacks yet: `/yadockeri deploy NAME BRANCH` makes one."
        return text, [section(text), *summary]
    pages = pages_of(len(stacks), LIST_PAGE)
    page = min(max(page, 0), pages - 1)
    shown = stacks[page * LIST_PAGE:(page + 1) * LIST_PAGE]
    text = f"{len(stacks)} stack{'s' if len(stacks) != 1 else ''}"
    blocks: list[Block] = [section(f"*{text}*"), *summary]
    for stack in shown:
        blocks.append(section(stack_line(stack, urls[stack.name], now, (next_ or {}).get(stack.name, ""), person),
                              accessory=ButtonElement(text="Status", action_id=STATUS, value=stack.name)))
    blocks += pager("list_page", page, pages)
    return text, blocks


def status_message(status: StackStatus, now: datetime | None = None, person: Person = named) -> tuple[str, list[Block]]:
    s = status.stack
    url = status.urls[0] if status.urls else None
    name = link(url, s.name) if url else code(s.name)
    commit = f" at {code(s.commit[:12])}" if s.commit else ""
    head = (f"{STATE_MARKS.get(s.state, ':white_circle:')} *{name}* is *{esc(s.state)}*: app {code(s.app)}, "
            f"branch {code(s.branch)}{commit}, owner {person(s.owner)}")
    blocks: list[Block] = [section(head)]
    facts = [f"created {ago(s.created_at, now)}", f"last activity {ago(s.last_activity_at, now)}"]
    if status.next:
        facts.append(esc(status.next))
    if len(status.urls) > 1:
        facts.append("also " + " ".join(link(u) for u in status.urls[1:]))
    blocks.append(context(" · ".join(facts)))
    if status.services:
        lines = []
        for svc in status.services:
            error = f" — {esc(first_line(svc.error, 200))}" if svc.error else ""
            lines.append(f"{code(svc.name)} {esc(svc.role)} {svc.running}/{svc.desired} running{error}")
        blocks.append(section("*Services*\n" + "\n".join(lines)))
    if status.deployments:
        lines = []
        for d in status.deployments:
            took = f" in {duration((d.finished_at - d.started_at).total_seconds())}" \
                if d.finished_at and d.started_at else ""
            error = f": {esc(first_line(d.error, 150))}" if d.error else ""
            lines.append(f"#{d.id} {esc(d.kind)} *{esc(d.state)}*{took} by {person(d.requested_by)} "
                         f"{ago(d.created_at, now)}{error}")
        blocks.append(section("*Last deployments*\n" + "\n".join(lines)))
    if status.env_keys:
        blocks.append(section("*Env vars* (values are secret): " + ", ".join(code(k) for k in status.env_keys)))
    blocks.append(DividerBlock())
    blocks.append(stack_actions(s.name, url if s.state == "running" else None))
    return f"{s.name} is {s.state}", blocks


def logs_fit(lines: list[str]) -> bool:
    return len(code_block("\n".join(lines), 100_000)) <= LOGS_INLINE_MAX


def logs_message(stack: str, process: str, lines: list[str]) -> tuple[str, list[Block]]:
    """Logs short enough to show inline (see logs_fit); longer ones go to a file."""
    text = f"Last {len(lines)} log lines of {stack} {process}"
    if not lines:
        return text, [section(f"{code(stack)} {code(process)} has no log lines yet.")]
    return text, [section(f"*Logs of* {code(stack)} {code(process)} (last {len(lines)} lines)"),
                  section(code_block("\n".join(lines), LOGS_INLINE_MAX))]


def logs_file_message(stack: str, process: str, count: int, permalink: str | None) -> tuple[str, list[Block]]:
    where = link(permalink, "the log file") if permalink else "a file in the stack's thread"
    text = f"The last {count} log lines of {stack} {process} are in {where}."
    return text, [section(f"The last {count} log lines of {code(stack)} {code(process)} are in {where}.")]


def destroy_prompt(stack: StackRecord, person: Person = named) -> tuple[str, list[Block]]:
    """Asks first. Its own buttons (not the stack buttons' Destroy): a click replaces the prompt with
    what was done, so a used prompt never stays clickable."""
    text = f"Destroy {stack.name}?"
    return text, [
        section(f":warning: Destroy {code(stack.name)} ({code(stack.app)} at {code(stack.branch)}, owner "
                f"{person(stack.owner)})? Every service, volume and env var of it goes away. This cannot be undone."),
        ActionsBlock(block_id=f"destroy:{stack.name}"[:255], elements=[
            ButtonElement(text="Destroy", action_id=DESTROY_CONFIRMED, value=stack.name, style="danger"),
            ButtonElement(text="Cancel", action_id=DESTROY_CANCEL, value=stack.name),
        ]),
    ]


def plain_message(text: str) -> tuple[str, list[Block]]:
    return text, [section(text)]
