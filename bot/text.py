"""Small text helpers for Slack: escaping, mentions, durations, truncation.

Untrusted text (commit subjects, branches, errors, build output, logs) reaches Slack only
through `esc` (or `code`/`code_block`, which use it), into text objects that are all `verbatim`
(blocks/common.py): Slack then links no bare URL and parses no `@channel`, and since `<` is
escaped, no `<!channel>` or `<url|label>` can be written either. The top-level `text` of a
message (its notification) has no `verbatim`, so the outbox and the asker pass it through
`fallback`, which leaves no mention or link to parse (see there).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from stacks.text import inert

_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# @channel, @here, @everyone as typed: shown with a full-width at sign (U+FF20), which Slack
# never reads as a mention, whatever `link_names` or `parse` say. (A zero-width character in
# between would be removed by inert, and would be invisible besides.)
_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
FULLWIDTH_AT = "\uff20"


def esc(text: object) -> str:
    """Any text made safe for mrkdwn: inert (stacks.text), the three characters mrkdwn gives
    meaning to escaped (&, <, >), and @channel/@here/@everyone written with a full-width ＠."""
    escaped = inert(str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(FULLWIDTH_AT, escaped)


# What Slack would still turn into a mention or a link in a message's top-level text.
SPECIAL_MENTION = re.compile(r"<!(channel|here|everyone|group|subteam\^[^|>]*)(?:\|[^>]*)?>", re.IGNORECASE)
_OWN_MARKUP = re.compile(r"(<[^<>]*>)")  # links, user and channel mentions, dates: written by us
_SCHEME = re.compile(r"\b([a-z][a-z0-9+.-]*):(?=//)", re.IGNORECASE)
_DOMAIN = re.compile(r"(?<![\w.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*(?![\w-])", re.IGNORECASE)


def without_special_mentions(text: str) -> str:
    """`<!channel>`, `<!here>`, `<!everyone>`, `<!subteam^...>` shown as ＠channel... (we never
    mean them; only a missed escape could produce one)."""
    return SPECIAL_MENTION.sub(lambda m: FULLWIDTH_AT + m.group(1).split("^")[0].lower(), text)


def fallback(text: str) -> str:
    """A message's top-level `text` (its notification; its content when it has no blocks), which
    Slack parses without `verbatim`: no special mention (`<!channel>` and the like, which we
    never write) and, outside our own `<...>` markup, no @channel (full-width ＠), no URL
    scheme (`https[:]//`) and no domain name (`evil[.]example`), the customary defanged forms."""
    text = without_special_mentions(inert(text))
    parts = _OWN_MARKUP.split(text)
    for index in range(0, len(parts), 2):  # the text between our own <...> tokens
        part = _BROADCAST.sub(FULLWIDTH_AT, parts[index])
        part = _SCHEME.sub(r"\1[:]", part)
        parts[index] = _DOMAIN.sub(lambda m: m.group(0).replace(".", "[.]"), part)
    return "".join(parts)


def code(text: object) -> str:
    """Inline code that survives any input (no backticks or newlines inside)."""
    return "`" + esc(str(text).replace("`", "'").replace("\n", " ")) + "`"


def is_slack_user(actor: str | None) -> bool:
    """A Slack user ID (`U0123ABC`), not `cli:akira`, `api:ci`, `github` or the scheduler."""
    return bool(actor) and bool(_SLACK_ID.match(actor or ""))


def who(actor: str | None) -> str:
    """A Slack user as a mention (it notifies them); anyone else (`cli:akira`, the scheduler) as code."""
    if not actor:
        return "someone"
    return f"<@{actor}>" if is_slack_user(actor) else code(actor)


def mention(actor: str | None) -> str | None:
    """A mention of a Slack user, which notifies them; None for anyone else (never `<@cli:bob>`)."""
    return f"<@{actor}>" if is_slack_user(actor) else None


def named(actor: str | None, name: str | None = None) -> str:
    """Someone named without a mention, so that nobody is notified: their Slack name when known,
    else their ID as code (Slack has no silent mention)."""
    if not actor:
        return "someone"
    if name and is_slack_user(actor):
        return esc(clip(" ".join(name.split()), 80))
    return code(actor)


def link(url: str, label: str | None = None) -> str:
    return f"<{url}|{esc(label)}>" if label else f"<{url}>"


def outside_link(url: str | None, label: str) -> str | None:
    """A link to a URL that came from outside (a pull request's, from GitHub): only a plain
    http(s) URL that cannot break out of Slack's <url|label> syntax; None otherwise."""
    if not url or not re.fullmatch(r"https?://[^\s<>|&]{1,500}", url):
        return None
    return link(url, label)


def duration(seconds: float | None) -> str:
    """`4.2s`, `42s`, `1m 12s`, `2h 5m`."""
    if seconds is None:
        return "?"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {(whole % 3600) // 60:02d}m"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 10:
        return "just now"
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def clock(moment: datetime | None) -> str:
    """A time Slack shows in each reader's own time zone, with a UTC fallback."""
    if moment is None:
        return "?"
    fallback = moment.astimezone(UTC).strftime("%H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{time}}|{fallback}>"


def clip(text: str, limit: int, marker: str = "…") -> str:
    """At most `limit` characters, cut at the end."""
    return text if len(text) <= limit else text[: max(0, limit - len(marker))] + marker


def clip_start(text: str, limit: int, marker: str = "…\n") -> str:
    """At most `limit` characters, keeping the end (the newest lines of a log)."""
    return text if len(text) <= limit else marker + text[len(text) - (limit - len(marker)):]


def code_block(text: str, limit: int = 2900) -> str:
    """A preformatted block of at most `limit` characters, keeping the last lines."""
    body = esc(text.replace("```", "ˋˋˋ")) or " "
    return "```" + clip_start(body, limit - 6) + "```"


def first_line(text: str | None, limit: int = 300) -> str:
    if not text:
        return ""
    return clip(text.strip().splitlines()[0] if text.strip() else "", limit)


_BRACKETED_USER = re.compile(r"&lt;([UW][A-Z0-9]{2,})&gt;")


def error_text(error: BaseException | str) -> str:
    """An engine error as mrkdwn: escaped, with `<U123>` turned into a mention."""
    return _BRACKETED_USER.sub(r"<@\1>", esc(clip(str(error), 2500)))
