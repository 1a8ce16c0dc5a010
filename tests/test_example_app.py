"""The notes example (examples/notes), deployed as a user would: a Flask app built FROM
python:3.11-slim, a PostgreSQL 15 middleware with a named volume, a release command that
migrates, a postdeploy seed and a predestroy hook. Real engine, router and database; the two
public images are offline stand-ins (tests/support/example_images.py), made once per machine."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import docker
import pytest

from stacks.config import Settings
from stacks.engine import Engine
from stacks.store import DeploymentRecord
from tests.conftest import unique
from tests.support.example_images import ensure_example_images
from tests.support.helpers import ADMIN, deploy, redeploy, succeeded, through_router, wait_until
from tests.support.sample_app import SampleRepo

pytestmark = pytest.mark.swarm

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "notes"
SEEDED = ["Welcome to yadockeri", "Migrations run on release", "Seeded once"]
PINNED_MIGRATION = """\
ALTER TABLE notes ADD COLUMN pinned boolean NOT NULL DEFAULT false;
UPDATE notes SET pinned = true WHERE title = 'Seeded once';
"""
# What the developer changes in app.py along with the migration: pinned notes first, marked.
APP_CHANGES = [
    ('NOTES_QUERY = "SELECT id, title, body, created_at FROM notes ORDER BY id"',
     'NOTES_QUERY = "SELECT id, title, body, created_at, pinned FROM notes ORDER BY pinned DESC, id"'),
    ('<strong class="title">{{ note.title }}</strong>',
     '<strong class="title">{{ note.title }}</strong>{% if note.pinned %} <em class="pinned">pinned</em>{% endif %}'),
]


@pytest.fixture(scope="session")
def example_images() -> dict[str, str]:
    """python:3.11-slim and postgres:15 on this engine (stand-ins made offline when missing)."""
    return ensure_example_images(say=print)


def copy_example(repo: SampleRepo) -> None:
    """The sample repository becomes exactly examples/notes."""
    repo.remove("www")
    shutil.copytree(EXAMPLE, repo.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def notes_page(settings: Settings, stack: str) -> str:
    response = through_router(settings, stack)
    assert response.status_code == 200, (response.status_code, response.text[:500])
    return response.text


def titles(page: str) -> list[str]:
    return [html.unescape(title) for title in re.findall(r'<strong class="title">(.*?)</strong>', page)]


def span(page: str, name: str) -> str:
    match = re.search(rf'<span id="{name}">(.*?)</span>', page)
    assert match, f"no {name} on the page:\n{page[:2000]}"
    return html.unescape(match.group(1))


def hook_output(settings: Settings, *records: DeploymentRecord) -> str:
    """Everything this test's engine logged (every job's log file; a record's tail only when it
    has no file): the hooks' lines contain their commands' own output, whatever prefix the
    engine puts before it."""
    folder = settings.data_dir / "logs"
    texts = [path.read_text(errors="replace") for path in sorted(folder.glob("*.log"))]
    texts += [r.log_tail or "" for r in records if not (folder / f"{r.id}.log").exists()]
    return "\n".join(texts)


def seeded_page(settings: Settings, stack: str) -> str | None:
    """The page once it lists the seeded notes (postdeploy may finish after the deploy is live)."""
    text = notes_page(settings, stack)
    return text if titles(text) == SEEDED else None


def stack_volumes(client: docker.DockerClient, stack: str) -> list[str]:
    volumes = client.api.volumes().get("Volumes") or []
    return sorted(v["Name"] for v in volumes
                  if v["Name"].startswith(f"{stack}_") or (v.get("Labels") or {}).get("yadockeri.stack") == stack)


def test_the_notes_example_deploys_migrates_seeds_once_and_destroys_its_data(
        example_images: dict[str, str], engine: Engine, settings: Settings, sample_repo: SampleRepo,
        docker_client: docker.DockerClient) -> None:
    assert set(example_images) == {"python:3.11-slim", "postgres:15"}
    copy_example(sample_repo)
    sample_repo.commit("the notes example")
    stack = unique("n")

    # First deploy: db healthy, migrate, web live on /up, then the seed (once).
    first = succeeded(deploy(engine, stack))
    assert through_router(settings, stack, path="/up").text == "ok"
    page = wait_until(lambda: seeded_page(settings, stack), timeout=60, what="the seeded notes on the page")
    assert span(page, "branch") == "main" and span(page, "stack") == stack
    assert span(page, "schema") == "001_create_notes"
    assert 'id="greeting"' not in page
    output = hook_output(settings, first)
    assert "migrate: applied 001_create_notes" in output
    assert output.count("seed: added 3 notes") == 1
    assert stack_volumes(docker_client, stack) == [f"{stack}_dbdata"]

    # A new migration and the code that uses it: the release applies it before the new web
    # starts; the data is still there and the seed did not run again.
    app_py = sample_repo.path / "app.py"
    text = app_py.read_text()
    for old, new in APP_CHANGES:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    sample_repo.write({"app.py": text, "migrations/002_add_pinned.sql": PINNED_MIGRATION})
    sample_repo.commit("pinned notes")
    second = succeeded(redeploy(engine, stack))
    page = notes_page(settings, stack)
    assert titles(page) == ["Seeded once", "Welcome to yadockeri", "Migrations run on release"]
    assert page.count('class="pinned"') == 1
    assert span(page, "schema") == "001_create_notes, 002_add_pinned"
    output = hook_output(settings, first, second)
    assert "migrate: applied 002_add_pinned" in output
    assert output.count("seed: added") == 1 and "seed: the notes were there already" not in output

    # An env change (no rebuild, no release, no seed): the page greets, escaped.
    changed, handle = engine.change_env(stack, {"GREETING": "Bonjour & welcome"}, [], ADMIN)
    assert changed == ["GREETING"] and handle is not None
    succeeded(handle.wait(240))
    page = notes_page(settings, stack)
    assert '<p class="greeting" id="greeting">Bonjour &amp; welcome</p>' in page
    assert len(titles(page)) == 3

    # Destroy: the predestroy hook says goodbye while the db still answers, then the stack and
    # its data volume are gone.
    destroyed = succeeded(engine.destroy(stack, ADMIN).wait(240))
    assert "goodbye: 3 notes and 2 migrations" in hook_output(settings, destroyed)
    assert stack_volumes(docker_client, stack) == []
    assert docker_client.api.services(filters={"label": f"yadockeri.stack={stack}"}) == []
    assert through_router(settings, stack).status_code == 404
