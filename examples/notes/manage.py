"""Tasks of the notes app, run by yadockeri as one-off tasks on the stack's network:

    python manage.py migrate   the release command: applies migrations/NNN_*.sql in order, each once
    python manage.py seed      postdeploy: a few notes to start with (adds none that are there already)
    python manage.py goodbye   predestroy: says what is about to go; changes nothing

They connect to DATABASE_URL once and do not retry: yadockeri runs them after the `db`
middleware's health check passes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 7_210_001  # pg_advisory_lock key: two migrate runs never interleave

SEED_NOTES = [
    ("Welcome to yadockeri", "This stack runs its own PostgreSQL, next to the app, on its own network."),
    ("Migrations run on release", "python manage.py migrate runs before the new processes start."),
    ("Seeded once", "python manage.py seed ran after this stack's first deploy, and only then."),
]


def connect() -> psycopg.Connection:
    return psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=10, autocommit=True)


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS.glob("[0-9][0-9][0-9]_*.sql"))


def migrate() -> None:
    with connect() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        pending = [path for path in migration_files() if path.stem not in applied]
        for path in pending:
            with conn.transaction():  # a migration applies entirely, with its record, or not at all
                conn.execute(path.read_text())  # no parameters: the file may hold several statements
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (path.stem,))
            print(f"migrate: applied {path.stem}", flush=True)
        print(f"migrate: {len(pending)} applied, {len(applied) + len(pending)} in all, schema up to date", flush=True)


def seed() -> None:
    added = 0
    with connect() as conn, conn.transaction():
        for title, body in SEED_NOTES:
            cursor = conn.execute(
                "INSERT INTO notes (title, body) SELECT %s, %s WHERE NOT EXISTS (SELECT 1 FROM notes WHERE title = %s)",
                (title, body, title),
            )
            added += cursor.rowcount
    print(f"seed: added {added} notes" if added else "seed: the notes were there already, none added", flush=True)


def goodbye() -> None:
    """Harmless by design: it reads, prints and always exits 0, so it never blocks a destroy."""
    try:
        with connect() as conn:
            notes = conn.execute("SELECT count(*) FROM notes").fetchone()
            versions = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    except (psycopg.Error, KeyError) as error:
        print(f"goodbye: could not count the notes ({error})", flush=True)
        return
    print(f"goodbye: {notes[0] if notes else 0} notes and {versions[0] if versions else 0} migrations "
          f"go with stack {os.environ.get('YADOCKERI_STACK', '?')}", flush=True)


COMMANDS = {"migrate": migrate, "seed": seed, "goodbye": goodbye}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in COMMANDS:
        print(f"usage: python manage.py {{{'|'.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    COMMANDS[argv[1]]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
