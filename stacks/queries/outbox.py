"""The front end's outbox (bot/outbox.py): messages kept until they are delivered; and the keys
(Slack's event ids) it acts on once.

The engine never reads these; it only keeps them, so that a message asked for survives an
outage of the chat service and a restart of yadockeri (models.OutboxMessage)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from ..models import OutboxMessage, SeenKey, utcnow
from .base import Queries, changed, insert


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    nonce: str
    channel: str
    thread_ts: str | None
    parent_id: int | None
    ts: str | None
    fallback: str | None
    content: str
    tag: str | None
    wanted: int
    sent: int
    final: bool
    uncertain: bool
    state: str
    created_at: datetime


def _record(row: OutboxMessage) -> OutboxRecord:
    return OutboxRecord(id=row.id, nonce=row.nonce, channel=row.channel, thread_ts=row.thread_ts,
                        parent_id=row.parent_id, ts=row.ts, fallback=row.fallback, content=row.content, tag=row.tag,
                        wanted=row.wanted, sent=row.sent, final=row.final, uncertain=row.uncertain, state=row.state,
                        created_at=row.created_at)


class OutboxQueries(Queries):
    def keep_message(self, *, nonce: str, channel: str, thread_ts: str | None, parent_id: int | None,
                     ts: str | None, fallback: str | None, content: str, tag: str | None, final: bool,
                     topic: str | None = None) -> int:
        with self.session() as s:
            row = OutboxMessage(nonce=nonce, channel=channel, thread_ts=thread_ts, parent_id=parent_id, ts=ts,
                                fallback=fallback, content=content, tag=tag, final=final, wanted=1, sent=0,
                                uncertain=False, state="pending", topic=topic)
            s.add(row)
            s.flush()
            return row.id

    def want_message(self, message_id: int, content: str, wanted: int, final: bool) -> None:
        """A newer version of the message is asked for."""
        with self.session() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.state == "pending")
                      .values(content=content, wanted=wanted, final=final))

    def message_sent(self, message_id: int, *, sent: int, channel: str, thread_ts: str | None, ts: str | None,
                     done: bool, uncertain: bool = False) -> None:
        with self.session() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
                sent=sent, channel=channel, thread_ts=thread_ts, ts=ts, uncertain=uncertain,
                state="done" if done else "pending"))

    def message_uncertain(self, message_id: int, uncertain: bool) -> None:
        with self.session() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(uncertain=uncertain))

    def message_dead(self, message_id: int) -> None:
        with self.session() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(state="dead"))

    def pending_messages(self) -> list[OutboxRecord]:
        with self.reading() as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.state == "pending").order_by(OutboxMessage.id))
            return [_record(r) for r in rows]

    def outbox_message(self, message_id: int) -> OutboxRecord | None:
        with self.reading() as s:
            row = s.get(OutboxMessage, message_id)
            return _record(row) if row else None

    def messages_about(self, topic: str) -> list[tuple[str, str]]:
        """(channel, ts) of the delivered messages about `topic` (its prompt's copies, say)."""
        with self.reading() as s:
            rows = s.execute(select(OutboxMessage.channel, OutboxMessage.ts).where(
                OutboxMessage.topic == topic, OutboxMessage.ts.is_not(None)))
            return [(channel, ts) for channel, ts in rows if ts]

    def forget_topic(self, topic: str) -> int:
        """Its messages are about it no more (the prompt was settled)."""
        with self.session() as s:
            return changed(s, update(OutboxMessage).where(OutboxMessage.topic == topic).values(topic=None))

    def forget_delivered(self, older_than: timedelta) -> int:
        """Delivered and dead messages are kept a while (a reply may still need its parent's ts)."""
        with self.session() as s:
            result = s.execute(delete(OutboxMessage).where(OutboxMessage.state != "pending",
                                                           OutboxMessage.updated_at < utcnow() - older_than))
            return int(getattr(result, "rowcount", 0) or 0)

    def first_time(self, key: str, forget_after: timedelta = timedelta(days=1)) -> bool:
        """True the first time `key` is given (within `forget_after`), False after, across processes."""
        with self.session() as s:
            s.execute(delete(SeenKey).where(SeenKey.key == key[:128], SeenKey.seen_at < utcnow() - forget_after))
            return insert(s, SeenKey(key=key[:128]))
