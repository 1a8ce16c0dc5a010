"""A deployment's one message (updated in place), its details in the thread, and notices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk.models.blocks import Block

from ..text import clip, clock, code, code_block, duration, esc, first_line, link, mention, named, outside_link, who
from .common import context, keep_buttons, section, stack_actions

MARKS = {"ok": "✓", "skipped": "·", "warning": "⚠", "failed": "✗", "running": "⟳"}
KIND_WORDS = {"deploy": "deploy", "redeploy": "redeploy", "env": "env change", "destroy": "destroy"}
TAIL_LINES_SHOWN = 25
# How a person is shown in a message: by default named without a mention (bot.people.Names.of
# gives their Slack name); a mention is written on purpose where someone must be told.
Person = Callable[[str | None], str]
# Notices that the owner of the stack is told of (mentioned) when someone else caused them.
OWNER_IS_TOLD = frozenset({"destroyed", "reaped", "failed", "rolled-back", "warned"})


@dataclass
class StepLine:
    name: str
    state: str  # running, ok, skipped, warning, failed
    seconds: float | None = None
    detail: str | None = None


@dataclass
class Progress:
    """What the message of one deployment shows; the Slack reporter keeps it current."""

    deployment_id: int
    stack: str
    kind: str
    branch: str
    requested_by: str
    state: str = "queued"  # queued, waiting, running, succeeded, failed, interrupted
    elapsed: float = 0.0
    steps: list[StepLine] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    commit: str | None = None
    error: str | None = None
    holder_deployment: int | None = None
    holder: str | None = None
    holder_since: datetime | None = None
    changed_keys: list[str] | None = None
    pull_request: str | None = None  # the URL of the pull request the stack serves (GitHub)

    @property
    def current_step(self) -> StepLine | None:
        running = [s for s in self.steps if s.state == "running"]
        return running[-1] if running else None

    @property
    def failed_step(self) -> StepLine | None:
        failed = [s for s in self.steps if s.state == "failed"]
        return failed[0] if failed else None

    @property
    def warnings(self) -> list[StepLine]:
        """Steps that went wrong without stopping the deployment (a failed postdeploy, a 500)."""
        return [s for s in self.steps if s.state == "warning"]

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed", "interrupted")


def _what(p: Progress) -> str:
    words = f"*{KIND_WORDS.get(p.kind, p.kind)}* of {code(p.stack)}"
    if p.kind in ("deploy", "redeploy"):
        words += f" from {code(p.branch)}"
    return words


def _headline(p: Progress, person: Person) -> str:
    if p.state == "queued":
        return f":hourglass_flowing_sand: {_what(p)} is queued"
    if p.state == "waiting":
        holder = f"deployment #{p.holder_deployment}" if p.holder_deployment else "another deployment"
        since = f" since {clock(p.holder_since)}" if p.holder_since else ""
        return (f":hourglass_flowing_sand: {_what(p)} waits: {code(p.stack)} is busy with {holder} of "
                f"{person(p.holder)}{since}. This one runs next in line.")
    if p.state == "running":
        step = p.current_step
        doing = f"step *{esc(step.name)}*" if step else "starting"
        return f":gear: {_what(p)}: {doing} · {duration(p.elapsed)}"
    if p.state == "succeeded":
        if p.kind == "destroy":
            return f":wastebasket: {code(p.stack)} was destroyed · took {duration(p.elapsed)}"
        at = f" at {code(p.commit[:12])}" if p.commit else ""
        where = " ".join(link(u) for u in p.urls) or code(p.stack)
        text = f":white_check_mark: {code(p.stack)} is up: {where} · {code(p.branch)}{at} · took {duration(p.elapsed)}"
        if p.kind == "env":
            text = (f":white_check_mark: env of {code(p.stack)} applied without a rebuild: {where} · "
                    f"took {duration(p.elapsed)}")
        for step in p.warnings:
            text += f"\n:warning: *{esc(step.name)}*: {esc(first_line(step.detail, 300))}"
        return text
    if p.state == "interrupted":
        return (f":warning: {_what(p)} was interrupted: yadockeri restarted while it ran. "
                f"{_redeploy_hint(p.stack)} deploys it again.")
    failed = p.failed_step
    at = f" at step *{esc(failed.name)}*" if failed else ""
    reason = first_line(p.error, 500)
    return f":x: {_what(p)} failed{at}: {esc(reason) or 'no reason given'}"


def _steps_summary(p: Progress) -> str:
    parts = []
    for step in p.steps:
        took = f" {duration(step.seconds)}" if step.seconds is not None and step.state != "running" else ""
        parts.append(f"{MARKS.get(step.state, '?')} {esc(step.name)}{took}")
    return "  ".join(parts)


def progress_message(p: Progress, person: Person = named) -> tuple[str, list[Block]]:
    """(fallback text, blocks) of a deployment's message at this moment. It names the requester
    without a mention: the one notification is the details reply when it ends (details_message)."""
    headline = _headline(p, person)
    blocks: list[Block] = [section(headline)]
    if p.changed_keys:
        blocks.append(section("changed: " + ", ".join(code(k) for k in p.changed_keys[:50])
                              + (" …" if len(p.changed_keys) > 50 else "")))
    facts = [f"#{p.deployment_id} · {esc(KIND_WORDS.get(p.kind, p.kind))} by {person(p.requested_by)}"]
    if (pull := outside_link(p.pull_request, "pull request")) is not None:
        facts.append(pull)
    if p.steps:
        facts.append(_steps_summary(p))
    if p.state == "failed":
        facts.append("details and the log tail are in the thread")
    blocks.append(context(*facts))
    if p.finished and not (p.kind == "destroy" and p.state == "succeeded"):
        url = p.urls[0] if p.state == "succeeded" and p.urls else None
        blocks.append(stack_actions(p.stack, url))
    return _plain(headline), blocks


def details_message(p: Progress, log_tail: str | None, *, tail_attached: bool) -> tuple[str, list[Block]]:
    """The thread reply when a deployment ends: each step with its time, and a failure's log tail.
    It mentions the requester, when a Slack user asked (not `cli:bob`, `api:ci`, `github`): the
    one message that notifies them, once, of how it ended."""
    lines = []
    for step in p.steps:
        took = f" {duration(step.seconds)}" if step.seconds is not None else ""
        detail = f" — {esc(clip(step.detail, 200))}" if step.detail else ""
        lines.append(f"{MARKS.get(step.state, '?')} {esc(step.name)}{took}{detail}")
    title = f"Deployment #{p.deployment_id}: {_what(p)} {esc(p.state)} after {duration(p.elapsed)}"
    if (requester := mention(p.requested_by)) is not None:
        title = f"{requester} {title}"
    blocks: list[Block] = [section(title + ("\n" + "\n".join(lines) if lines else ""))]
    if p.state != "succeeded" and p.error:
        blocks.append(section("*Error*\n" + code_block(p.error, 2000)))
    if p.state != "succeeded" and log_tail:
        shown = "\n".join(log_tail.splitlines()[-TAIL_LINES_SHOWN:])
        note = " (the whole tail is attached below)" if tail_attached else ""
        blocks.append(section(f"*Last lines of the log*{note}\n" + code_block(shown)))
    return _plain(title), blocks


TAIL_TEXT_SECTIONS = 8  # a whole tail as text: at most this many blocks ...
TAIL_TEXT_CHUNK = 2400  # ... of this many characters of log each (code_block clips what escaping adds)


def tail_message(p: Progress, tail: str) -> tuple[str, list[Block]]:
    """A failure's log tail as text in the thread, where Slack did not take it as a file: as many
    of its last lines as a message holds."""
    lines = tail.splitlines()
    chunks: list[list[str]] = []
    size = 0
    for line in reversed(lines):
        if not chunks or size + len(line) + 1 > TAIL_TEXT_CHUNK:
            if len(chunks) == TAIL_TEXT_SECTIONS:
                break
            chunks.append([])
            size = 0
        chunks[-1].insert(0, line)
        size += len(line) + 1
    shown = sum(len(chunk) for chunk in chunks)
    which = f"its last {shown} of {len(lines)} lines" if shown < len(lines) else f"all {len(lines)} lines"
    head = (f"*Log tail of deployment #{p.deployment_id}* ({code(p.stack)}), {which}: "
            "Slack did not take it as a file here")
    return _plain(head), [section(head), *(section(code_block("\n".join(c))) for c in reversed(chunks))]


CANNOT_POST_WHY = {
    "not_in_channel": "I am not in this channel; invite me with `/invite @yadockeri`",
    "channel_not_found": "I am not in this channel; invite me with `/invite @yadockeri`",
    "restricted_action_read_only_channel": "this channel is read-only: it does not allow me to post here",
    "restricted_action_thread_only_channel": "this channel takes replies in threads only: it does not allow me "
                                             "to start a stack's thread here",
    "is_archived": "this channel is archived",
}


def cannot_post_note(error: str, stack: str, redirected: str | None) -> str:
    """Why a deployment's message could not go where it was asked from, and where it went instead."""
    why = CANNOT_POST_WHY.get(error) or f"Slack says {code(error)}"
    where = f"The progress of {code(stack)} is in <#{redirected}>." if redirected else \
        f"I will tell you when {code(stack)} is done."
    return f":information_source: I cannot post here ({why}). {where}"


def notice_line(kind: str, stack: str, actor: str, detail: str | None, deployment_id: int | None, *,
                by: str | None = None, owner: str | None = None) -> str:
    """One short line for the notify channel. The actor is shown as `by` (their name: a notice of
    what someone did never pings them), the owner mentioned at the end when `owner_to_tell` says so."""
    line = _notice(kind, stack, by or named(actor), detail, f" #{deployment_id}" if deployment_id else "")
    return line + (f" · owner {owner}" if owner else "")


def owner_to_tell(kind: str, actor: str | None, owner: str | None) -> str | None:
    """The owner's mention when a notice is about their stack and someone else (an admin, the
    scheduler, another user's deploy) caused it; None when they did it themselves."""
    if kind not in OWNER_IS_TOLD or not owner or owner == actor:
        return None
    return mention(owner)


def _notice(kind: str, stack: str, by: str, detail: str | None, number: str) -> str:
    if kind == "created":
        where = f": {link(detail)}" if detail and detail.startswith("http") else ""
        return f":new: {by} created {code(stack)}{where}"
    if kind == "destroyed":
        return f":wastebasket: {by} destroyed {code(stack)}"
    if kind == "failed":
        return f":x: {code(stack)}: deployment{number} by {by} failed: {esc(first_line(detail, 200))}"
    if kind == "interrupted":
        return f":warning: {code(stack)}: deployment{number} by {by} was interrupted by a restart of yadockeri"
    if kind == "reaped":
        return f":wastebasket: {code(stack)} was reaped: nobody used it for a long time"
    if kind == "rolled-back":
        return (f":rewind: {code(stack)}: deployment{number} by {by} went live, then swarm rolled it back: "
                f"{esc(first_line(detail, 300))}")
    if kind == "warned":
        return f":warning: {code(stack)} is idle and will be reaped" + (f": {esc(first_line(detail, 200))}" if detail else "")
    if kind == "slept":
        return f":zzz: {code(stack)} sleeps (idle); a request to it wakes it"
    if kind == "woke":
        return f":sunrise: {code(stack)} woke up"
    if kind == "kept":
        return f":pushpin: {by} kept {code(stack)} {kept_until(detail)}"
    return f":information_source: {code(stack)}: {esc(kind)}" + (f": {esc(first_line(detail, 200))}" if detail else "")


def warning_message(stack: str, detail: str | None, reaped_in: str, owner: str | None = None) -> tuple[str, list[Block]]:
    """A stack nobody used for long: it will be reaped unless someone keeps it (`owner`: a mention
    of its owner, in the notify channel's copy)."""
    why = f" ({esc(first_line(detail, 200))})" if detail else ""
    text = (f":warning: {code(stack)} is idle{why} and will be *destroyed {esc(reaped_in)}* unless "
            "someone keeps it. A request to it or a deploy counts as use too." + (f" · owner {owner}" if owner else ""))
    return _plain(text), [section(text), keep_buttons(stack)]


def until_text(until: datetime | None) -> str:
    """`until <date>` in each reader's time zone (Slack's date markup, with a UTC fallback); None: forever."""
    if until is None:
        return "forever"
    return f"until <!date^{int(until.timestamp())}^{{date_short_pretty}} {{time}}|{until:%Y-%m-%d %H:%M} UTC>"


def kept_time(detail: str | None) -> datetime | None:
    """The engine's `kept` detail (`forever`, `until <ISO time>`): the time, None for forever;
    ValueError for anything else."""
    if detail == "forever":
        return None
    return datetime.fromisoformat((detail or "").removeprefix("until "))


def kept_until(detail: str | None) -> str:
    try:
        return until_text(kept_time(detail))
    except ValueError:
        return esc(first_line(detail, 200))


def kept_message(stack: str, by: str, until: datetime | None) -> tuple[str, list[Block]]:
    """What a warning becomes once someone kept the stack (by: how they are shown, see Person;
    until: None for forever)."""
    text = f":pushpin: {by} kept {code(stack)} {until_text(until)}: it will not sleep or be reaped before."
    return _plain(text), [section(text)]


def settled_warning(line: str) -> tuple[str, list[Block]]:
    """What a warning becomes once the stack was reaped or destroyed: no Keep buttons left."""
    return _plain(line), [section(line)]


def interrupted_note(stack: str, kind: str, deployment_id: int, actor: str) -> str:
    """In the stack's thread: mentions the requester (their deployment ended), and says how to run it
    again where they read it (a slash command cannot be typed in a thread; a mention can)."""
    return (f":warning: deployment #{deployment_id} ({esc(KIND_WORDS.get(kind, kind))} of {code(stack)} by {who(actor)}) "
            f"was interrupted: yadockeri restarted while it ran. {_redeploy_hint(stack)} deploys it again.")


def _redeploy_hint(stack: str) -> str:
    return f"`@yadockeri redeploy {esc(stack)}`"


def started_answer(p: Progress, where: str, confirmed_by: str | None = None) -> str:
    """The answer to whoever asked, where they asked, when the deployment's message goes elsewhere
    (the stack's thread): what started, and a link there. `confirmed_by`: the prompt it replaces
    was confirmed by them (named, not mentioned)."""
    head = f":wastebasket: {confirmed_by} confirmed: " if confirmed_by else ":arrow_forward: "
    return f"{head}{_what(p)} started (#{p.deployment_id}); follow it in {where}."


def cancelled_answer(stack: str, by: str) -> str:
    """What a destroy prompt becomes when cancelled."""
    return f":no_entry_sign: {by} cancelled: {code(stack)} is not destroyed."


def env_note(stack: str, actor: str, keys: list[str]) -> str:
    return f":key: {who(actor)} changed env of {code(stack)}: " + ", ".join(code(k) for k in keys)


def _plain(mrkdwn: str) -> str:
    """A notification-friendly fallback text (emoji codes and markup are fine there)."""
    return clip(mrkdwn, 3000)
