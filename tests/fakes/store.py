"""The store for Docker-free tests is the real one (stacks.store.Store) on a SQLite file, not a
fake. Why:

- What the pipeline and the job runner rely on most is the store's decisions: the per-stack
  lock queue (`try_lock` lets a deployment in only when it is first in line), conditional state
  changes (`set_stack_state(only_from=...)`, `warn_stack`, `start_deployment`) and recovery
  (`recover_interrupted`). Those are SQL in one transaction; an in-memory copy would be a second
  implementation of exactly the part worth testing, and could agree with the tests while the
  SQL does not.
- It needs no server and is quick: the migrations build a database once per test session
  (~0.3 s) and each test gets a copy of that file (a millisecond), so every test starts from
  an empty, fully migrated schema, as `Store()` would make it.
- tests/test_store.py already tests it on SQLite and PostgreSQL; no contract suite is needed.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

from cryptography.fernet import Fernet

from stacks.config import AppConfig
from stacks.store import Store

KEY = Fernet(Fernet.generate_key())
_TEMPLATE_LOCK = threading.Lock()


def template_database(folder: Path) -> Path:
    """A migrated, empty SQLite database in `folder` (made once; later calls return it)."""
    path = folder / "template.db"
    with _TEMPLATE_LOCK:
        if not path.exists():
            Store(f"sqlite:///{path}", KEY).close()
            with closing(sqlite3.connect(path)) as connection:  # all in the one file, so a copy is whole
                connection.execute("PRAGMA journal_mode=DELETE")
    return path


def store_from(template: Path, path: Path, apps: dict[str, AppConfig]) -> Store:
    """A store on a copy of the template, with these apps (Store() finds the schema current)."""
    shutil.copyfile(template, path)
    store = Store(f"sqlite:///{path}", KEY)
    store.sync_apps(apps)
    return store
