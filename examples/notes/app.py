"""Notes: a small Flask app on PostgreSQL, the example of a yadockeri stack with middleware.

    GET  /       the notes, newest last, and which branch and commit this stack runs
    POST /notes  add a note (title, body), then back to /
    GET  /up     200 "ok" when the database answers, else 503 (yadockeri's health check)

Configuration is the environment: DATABASE_URL (the `db` middleware service), GREETING
(optional, shown on the page) and what yadockeri sets on every process (YADOCKERI_STACK,
YADOCKERI_BRANCH, YADOCKERI_COMMIT, YADOCKERI_URL).
"""

from __future__ import annotations

import os

import psycopg
from flask import Flask, redirect, render_template_string, request, url_for
from psycopg.rows import dict_row

app = Flask(__name__)

MAX_TITLE = 200
MAX_BODY = 5000
NOTES_QUERY = "SELECT id, title, body, created_at FROM notes ORDER BY id"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Notes{% if branch %} · {{ branch }}{% endif %}</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
    .greeting { background: #eef6ff; padding: .5rem 1rem; border-radius: .4rem; }
    li { margin: .6rem 0; } li p { margin: .2rem 0 0; color: #555; }
    form { display: grid; gap: .4rem; margin-top: 2rem; }
    footer { margin-top: 2rem; font-size: .85rem; color: #777; }
  </style>
</head>
<body>
  <h1>Notes</h1>
  {% if greeting %}<p class="greeting" id="greeting">{{ greeting }}</p>{% endif %}
  {% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
  <ul id="notes">
  {% for note in notes %}
    <li class="note"><strong class="title">{{ note.title }}</strong>
      {% if note.body %}<p>{{ note.body }}</p>{% endif %}</li>
  {% else %}
    <li>No notes yet.</li>
  {% endfor %}
  </ul>
  <form method="post" action="{{ url_for('add_note') }}">
    <input name="title" placeholder="Title" maxlength="{{ max_title }}" required>
    <textarea name="body" placeholder="Anything else?" maxlength="{{ max_body }}"></textarea>
    <button>Add note</button>
  </form>
  <footer>
    stack <span id="stack">{{ stack or "-" }}</span>,
    branch <span id="branch">{{ branch or "-" }}</span>,
    commit <span id="commit">{{ commit[:12] if commit else "-" }}</span>;
    schema <span id="schema">{{ schema | join(", ") or "-" }}</span>
  </footer>
</body>
</html>
"""


def connect() -> psycopg.Connection:
    return psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=5, row_factory=dict_row)


@app.get("/")
def index() -> str:
    with connect() as conn:
        notes = conn.execute(NOTES_QUERY).fetchall()
        schema = [row["version"] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    return render_template_string(
        PAGE, notes=notes, schema=schema, greeting=os.environ.get("GREETING"), error=request.args.get("error"),
        stack=os.environ.get("YADOCKERI_STACK"), branch=os.environ.get("YADOCKERI_BRANCH"),
        commit=os.environ.get("YADOCKERI_COMMIT"), max_title=MAX_TITLE, max_body=MAX_BODY,
    )


@app.post("/notes")
def add_note():
    title = request.form.get("title", "").strip()
    body = request.form.get("body", "").strip()
    if not title or len(title) > MAX_TITLE or len(body) > MAX_BODY:
        return redirect(url_for("index", error=f"A note needs a title of at most {MAX_TITLE} characters."))
    with connect() as conn:
        conn.execute("INSERT INTO notes (title, body) VALUES (%s, %s)", (title, body))
    return redirect(url_for("index"))


@app.get("/up")
def up() -> tuple[str, int, dict[str, str]]:
    try:
        with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, KeyError) as error:
        app.logger.warning("health check: the database does not answer: %s", error)
        return "database unavailable", 503, {"Content-Type": "text/plain"}
    return "ok", 200, {"Content-Type": "text/plain"}
