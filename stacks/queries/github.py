"""Pull requests and their stacks, and the webhook deliveries acted on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from ..models import PullRequestStack, WebhookDelivery, utcnow
from .base import Queries, changed, insert


@dataclass(frozen=True)
class PullRequestRecord:
    repo: str
    number: int
    app: str
    stack: str
    head_sha: str
    fork: bool
    open: bool
    html_url: str | None
    comment_id: int | None
    github_deployment: int | None
    updated_at: datetime


def _record(row: PullRequestStack) -> PullRequestRecord:
    return PullRequestRecord(repo=row.repo, number=row.number, app=row.app, stack=row.stack, head_sha=row.head_sha,
                             fork=row.fork, open=row.open, html_url=row.html_url, comment_id=row.comment_id,
                             github_deployment=row.github_deployment, updated_at=row.updated_at)


class GitHubQueries(Queries):
    def save_pull_request(self, *, repo: str, number: int, app: str, stack: str, head_sha: str, fork: bool,
                          open_: bool, html_url: str | None) -> PullRequestRecord:
        """Insert or update a pull request's row (its comment and GitHub deployment are kept)."""
        with self.session() as s:
            row = s.scalar(select(PullRequestStack).where(PullRequestStack.repo == repo, PullRequestStack.number == number))
            if row is None:
                row = PullRequestStack(repo=repo, number=number, app=app, stack=stack, head_sha=head_sha, fork=fork,
                                       open=open_, html_url=html_url)
                if not insert(s, row):  # a concurrent delivery inserted it: update that one
                    row = s.scalar(select(PullRequestStack).where(PullRequestStack.repo == repo,
                                                                  PullRequestStack.number == number))
            assert row is not None
            row.app, row.stack, row.head_sha, row.fork, row.open = app, stack, head_sha, fork, open_
            row.html_url = html_url or row.html_url
            s.flush()
            return _record(row)

    def pull_request(self, repo: str, number: int) -> PullRequestRecord | None:
        with self.reading() as s:
            row = s.scalar(select(PullRequestStack).where(PullRequestStack.repo == repo, PullRequestStack.number == number))
            return _record(row) if row else None

    def pull_request_of(self, stack: str) -> PullRequestRecord | None:
        """The open pull request a stack serves (or the newest one it served)."""
        with self.reading() as s:
            row = s.scalar(select(PullRequestStack).where(PullRequestStack.stack == stack)
                           .order_by(PullRequestStack.open.desc(), PullRequestStack.updated_at.desc()).limit(1))
            return _record(row) if row else None

    def pull_requests(self, repo: str) -> list[PullRequestRecord]:
        with self.reading() as s:
            return [_record(r) for r in s.scalars(select(PullRequestStack).where(PullRequestStack.repo == repo))]

    def set_pull_request(self, repo: str, number: int, **values: object) -> None:
        with self.session() as s:
            s.execute(update(PullRequestStack).where(PullRequestStack.repo == repo, PullRequestStack.number == number)
                      .values(**values))

    def queue_delivery(self, delivery: str, event: str, payload: str) -> bool:
        """Keep a delivery to act on; False if this id was kept already (a redelivery)."""
        with self.session() as s:
            return insert(s, WebhookDelivery(id=delivery, event=event[:40], payload=payload, state="queued"))

    def claim_delivery(self) -> tuple[str, str, str] | None:
        """The oldest queued delivery, now `acting`: (id, event, payload)."""
        with self.session() as s:
            row = s.scalar(select(WebhookDelivery).where(WebhookDelivery.state == "queued")
                           .order_by(WebhookDelivery.received_at, WebhookDelivery.id).limit(1))
            if row is None:
                return None
            row.state = "acting"
            return row.id, row.event, row.payload or ""

    def finish_delivery(self, delivery: str, result: str) -> None:
        with self.session() as s:
            s.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery)
                      .values(state="done", result=result[:2000], payload=None, done_at=utcnow()))

    def requeue_deliveries(self) -> int:
        """Deliveries a dead process was acting on are queued again (acting twice is safe: a deploy
        of the commit already deployed is a redeploy, a destroy of a destroyed stack does nothing)."""
        with self.session() as s:
            return changed(s, update(WebhookDelivery).where(WebhookDelivery.state == "acting").values(state="queued"))

    def delivery(self, delivery: str) -> tuple[str, str | None] | None:
        """(state, result) of a delivery, or None if it was never kept."""
        with self.reading() as s:
            row = s.get(WebhookDelivery, delivery)
            return (row.state, row.result) if row else None
