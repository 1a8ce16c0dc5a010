"""The one way to the database.

Sessions never leave the store: callers get plain, frozen records (stacks/records.py). Every
write that decides something (taking a lock, marking a deployment, sleeping a stack) is a
conditional update in one transaction, so two processes that race do the thing once.

`Store` is the queries of every subject (stacks/queries/) over one engine and session factory.
"""

from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from .database import head_revision, make_engine, migrate
from .errors import ConfigError
from .queries.base import ACTIVE_DEPLOYMENT, LIVE
from .queries.deployments import DeploymentQueries
from .queries.env import EnvQueries
from .queries.events import EventQueries
from .queries.github import GitHubQueries
from .queries.idle import IdleQueries
from .queries.locks import LockQueries
from .queries.outbox import OutboxQueries
from .queries.stacks import StackQueries
from .queries.tokens import TokenQueries
from .records import DeploymentRecord, EventRecord, LockRecord, StackRecord, StepRecord

__all__ = [
    "ACTIVE_DEPLOYMENT", "LIVE", "DeploymentRecord", "EventRecord", "LockRecord", "StackRecord", "StepRecord", "Store",
    "head_revision", "make_engine", "migrate",
]


class Store(StackQueries, DeploymentQueries, LockQueries, EnvQueries, IdleQueries, EventQueries, TokenQueries,
            GitHubQueries, OutboxQueries):
    def __init__(self, url: str, fernet: Fernet) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._fernet = fernet
        super().__init__(sessionmaker(self.engine, expire_on_commit=False))
        try:
            migrate(self.engine)
        except OperationalError as error:
            raise ConfigError(f"cannot open the database {self.engine.url!r}: {error.orig}") from None

    def close(self) -> None:
        self.engine.dispose()

    def count(self, model: type) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0
