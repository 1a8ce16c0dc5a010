"""Small text helpers for Slack: escaping, mentions, durations, truncation."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def esc(text: object) -> str:
    """Escape the three characters Slack's mrkdwn gives meaning to (&, <, >)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: object) -> str:
    """Inline code that survives any input (no backticks or newlines inside)."""
    return "`" + esc(str(text).replace("`", "'").replace("\n", " ")) + "`"


def who(actor: str | None) -> str:
    """A Slack user as a mention; anyone else (`cli:akira`, the scheduler) as code."""
    if not actor:
        return "someone"
    return f"<@{actor}>" if _SLACK_ID.match(actor) else code(actor)


def link(url: str, label: str | None = None) -> str:
    return f"<{url}|{esc(label)}>" if label else f"<{url}>"


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
    now = now or datetime.now(timezone.utc)
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
    fallback = moment.astimezone(timezone.utc).strftime("%H:%M UTC")
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
