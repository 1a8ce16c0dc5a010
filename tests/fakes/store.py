"""The store for Docker-free tests is the real one (stacks.store.Store) on a SQLite file, not a
fake. Why:

- What the pipeline and the job runner rely on most is the store's decisions: the per-stack
  lock queue (`try_lock` lets a deployment in only when it is first in line), conditional state
  changes (`set_stack_state(only_from=...)`, `warn_stack`, `start_deployment`) and recovery
  (`recover_interrupted`). Those are SQL in one transaction; an in-memory copy would be a second
  implementation of exactly the part worth testing, and could agree with the tests while the
  SQL does not.
- It needs no server and is quick: the migrations build a database once per test session
  (~0.3 s) and each test starts from a copy of that file (a millisecond): an empty, fully
  migrated schema, as `Store()` makes it. The Store itself (its SQLAlchemy engine) lives for the
  whole session, because the engine caches every statement it compiled: a new engine per test
  would compile the pipeline's statements again in every test (~0.1 s each time).
- tests/test_store.py already tests it on SQLite and PostgreSQL; no contract suite is needed.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from cryptography.fernet import Fernet

from stacks.config import AppConfig
from stacks.store import Store

KEY = Fernet(Fernet.generate_key())


class Databases:
    """One migrated template and one Store on a working copy of it, for a test session; `fresh()`
    puts the working copy back to the template for the next test. One test at a time: no other
    thread may use the store while it is reset (World.close stops them first)."""

    def __init__(self, folder: Path) -> None:
        self.template = folder / "template.db"
        Store(f"sqlite:///{self.template}", KEY).close()
        with closing(sqlite3.connect(self.template)) as connection:  # all in the one file, so a copy is whole
            connection.execute("PRAGMA journal_mode=DELETE")
        self.path = folder / "yadockeri.db"
        self.url = f"sqlite:///{self.path}"
        shutil.copyfile(self.template, self.path)
        self.store = Store(self.url, KEY)

    def fresh(self, apps: dict[str, AppConfig]) -> Store:
        """The store, on an empty database again, knowing these apps."""
        self.store.engine.dispose()  # every connection closed: the file can be replaced
        for leftover in (Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(self.template, self.path)
        self.store.sync_apps(apps)
        return self.store

    def close(self) -> None:
        self.store.close()
