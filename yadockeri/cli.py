"""`yadockeri`: the command line. Same words as the Slack command (one parser), plus the verbs
that run yadockeri itself (router, up, bot, reaper, install, uninstall)."""

from __future__ import annotations

import getpass
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from stacks.commands import Command, parse, usage
from stacks.errors import UsageError, YadockeriError
from stacks.names import format_duration
from stacks.text import inert, inert_line

from . import control
from .terminal import TerminalReporter

if TYPE_CHECKING:  # the engine (SQLAlchemy, docker...) loads only when a command needs it
    from stacks.config import Settings
    from stacks.engine import Actor, Engine
    from stacks.store import DeploymentRecord

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def say(text: object = "", *, file: TextIO | None = None) -> None:
    """print() for everything the command line shows: names, branches, errors and log lines can
    come from a branch anyone can push, so they are made inert first (stacks.text) and cannot
    drive the terminal (erase lines, set its title, write the clipboard)."""
    target = control.current_err() if file is sys.stderr else file or control.current_out()
    print(inert(str(text)), file=target, flush=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    words = sys.argv[1:] if argv is None else argv
    try:
        command = parse(words, origin="cli")
    except UsageError as error:
        say(f"yadockeri: {error}", file=sys.stderr)
        return EXIT_USAGE
    if command.verb in ("", "help"):
        say(usage("cli", command.topic))
        return EXIT_OK
    if command.verb in control.FAST_VERBS and (command.verb != "destroy" or command.yes):
        try:  # the running yadockeri does it, if there is one (yadockeri/control.py)
            code = control.run_remote(words, out=sys.stdout, err=sys.stderr)
        except KeyboardInterrupt:
            say("\nyadockeri: stopped watching; the running yadockeri goes on with it (`yadockeri status`)",
                file=sys.stderr)
            return 130
        if code is not None:
            return code
    try:
        from stacks.config import load_settings

        return run(command, load_settings())
    except YadockeriError as error:
        say(f"yadockeri: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        say("\nyadockeri: stopped; a deployment it was running will be marked interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `yadockeri list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:  # noqa: BLE001 - never a stack trace on the terminal: a line, and the trace in a file
        return _internal_error(error)


def actor() -> Actor:
    from stacks.engine import Actor

    # Whoever can run this can use the Docker socket (or the running yadockeri's socket, as its
    # own user), so is an admin of yadockeri too.
    return Actor(id=f"cli:{control.user.get() or getpass.getuser()}", source="cli", admin=True)


def run(command: Command, settings: Settings) -> int:
    from stacks.engine import Engine

    handler = HANDLERS.get(command.verb)
    if handler is None:
        raise YadockeriError(f"`{command.verb}` is not available in this version yet")
    engine = Engine(settings)
    try:
        interrupted = engine.start()
        for deployment in interrupted:
            say(f"note: deployment #{deployment.id} ({deployment.kind} {deployment.stack}) was interrupted "
                "when its yadockeri process stopped; it is marked so", file=sys.stderr)
        if command.verb not in SERVES_CONTROL:
            return handler(engine, command)
        from api.server import serve  # the HTTP API (docs/api.md), served by the long-running ones

        server = control.ControlServer(settings.data_dir, lambda words: execute(engine, words)).start()
        api = serve(engine)
        if api is not None:
            say(f"HTTP API on {api.url}/api/v1 (docs/api.md)")
        try:
            return handler(engine, command)
        finally:
            if api is not None:
                api.stop()
            server.close()
    finally:
        engine.close()


SERVES_CONTROL = ("up", "bot", "reaper")  # the long-running ones serve the everyday commands


def execute(engine: Engine, words: list[str]) -> int:
    """One command line of a client of the control socket, on this process's engine."""
    try:
        command = parse(words, origin="cli")
    except UsageError as error:
        say(f"yadockeri: {error}", file=sys.stderr)
        return EXIT_USAGE
    if command.verb not in control.FAST_VERBS:
        say(f"yadockeri: `{command.verb}` is not served by the running yadockeri", file=sys.stderr)
        return EXIT_USAGE
    try:
        return HANDLERS[command.verb](engine, command)
    except YadockeriError as error:
        say(f"yadockeri: {error}", file=sys.stderr)
        return EXIT_FAILED


def _finish(final: DeploymentRecord) -> int:
    return EXIT_OK if final.state == "succeeded" else EXIT_FAILED


def do_deploy(engine: Engine, command: Command) -> int:
    handle = engine.deploy(command.stack or "", command.branch or "", actor(), app=command.app, reporter=TerminalReporter())
    return _finish(handle.wait())


def do_redeploy(engine: Engine, command: Command) -> int:
    return _finish(engine.redeploy(command.stack or "", actor(), reporter=TerminalReporter()).wait())


def do_destroy(engine: Engine, command: Command) -> int:
    stack = engine.store.require_stack(command.stack or "")
    if not command.yes:
        if not sys.stdin.isatty():
            raise YadockeriError(f"destroying `{stack.name}` removes everything of it; add --yes to confirm")
        answer = input(inert_line(f"Destroy stack {stack.name} ({stack.app} at {stack.branch}) and all its data? [y/N] "))
        if answer.strip().lower() not in ("y", "yes"):
            say("not destroyed")
            return EXIT_FAILED
    return _finish(engine.destroy(stack.name, actor(), reporter=TerminalReporter()).wait())


def do_env(engine: Engine, command: Command) -> int:
    stack = command.stack or ""
    if not command.changes_env:
        values = engine.env(stack)
        if not values:
            say(f"{stack} has no env vars of its own")
        for key, masked in values.items():
            say(inert_line(f"{key}={masked}"))
        return EXIT_OK
    changed, handle = engine.change_env(stack, dict(command.env_set), list(command.env_unset), actor(),
                                        reporter=TerminalReporter(show_log=False))
    if not changed:
        say("nothing changed")
        return EXIT_OK
    say(f"changed: {', '.join(changed)}")
    return _finish(handle.wait()) if handle else EXIT_OK


def do_list(engine: Engine, command: Command) -> int:
    if command.summary:  # counts only: quick with thousands of stacks
        from stacks.capacity import summary_lines

        for line in summary_lines(engine.capacity()):
            say(line)
        return EXIT_OK
    stacks = engine.list_stacks()
    if not stacks:
        say("no stacks yet: `yadockeri deploy NAME BRANCH` makes one")
        return EXIT_OK
    rows: list[tuple[str, ...]] = [("STACK", "STATE", "APP", "BRANCH", "COMMIT", "OWNER", "LAST ACTIVITY", "NEXT", "URL")]
    for s in stacks:
        rows.append((s.name, s.state, s.app, s.branch, (s.commit or "-")[:12], s.owner, _ago(s.last_activity_at),
                     engine.next_for(s) or "-", engine.settings.stack_url(s.name)))
    _table(rows)
    return EXIT_OK


def do_status(engine: Engine, command: Command) -> int:
    status = engine.status(command.stack or "")
    s = status.stack
    say(f"{s.name}: {s.state}  ({s.app} {s.branch} at {(s.commit or '-')[:12]}, owner {s.owner})")
    say(f"  url: {' '.join(status.urls)}")
    say(f"  last activity: {_ago(s.last_activity_at)} ({s.requests} requests through the router); "
        f"created {_ago(s.created_at)}")
    say(f"  next: {status.next or '-'}")
    for service in status.services:
        error = f"  error: {inert_line(service.error)}" if service.error else ""
        say(f"  {service.role:<10} {service.name:<40} {service.running}/{service.desired} running{error}")
    if status.env_keys:
        say(f"  env: {', '.join(status.env_keys)}")
    for d in status.deployments:
        took = f" in {(d.finished_at - d.started_at).total_seconds():.1f}s" if d.finished_at and d.started_at else ""
        say(f"  #{d.id} {d.kind} {d.state}{took} by {d.requested_by} {_ago(d.created_at)}"
            + (f": {d.error.splitlines()[0]}" if d.error else ""))
    return EXIT_OK


def do_logs(engine: Engine, command: Command) -> int:
    for line in engine.logs(command.stack or "", command.process or "web"):
        say(line)
    return EXIT_OK


def do_router(engine: Engine, command: Command) -> int:
    from stacks.router import ensure_router

    if command.migrate_network:
        from stacks.router_move import migrate_network

        migrate_network(engine.swarm, engine.settings, say)
    firewall = ensure_router(engine.swarm, engine.settings)
    say(f"router `{engine.settings.router_service}` is up on port {engine.settings.router_port}"
        f" for *.{', *.'.join(engine.settings.domains)}")
    say(firewall)
    return EXIT_OK


def do_up(engine: Engine, command: Command) -> int:
    """The router, then yadockeri in the foreground: the Slack bot if Slack is configured, else
    the scheduler alone (sleep, wake, reap)."""
    do_router(engine, command)
    app, config = engine.settings.app(None)
    say(f"ready. Deploy the {app} app ({config.repo}, branch {config.branch}) with:\n"
        f"  .venv/bin/yadockeri deploy demo {config.branch}\n"
        f"then open {engine.settings.stack_url('demo')}")
    if engine.settings.slack_bot_token:
        return do_bot(engine, command)
    say("no SLACK_BOT_TOKEN: running without Slack (docs/slack.md says how to add it)")
    return do_reaper(engine, command)


def do_reaper(engine: Engine, command: Command) -> int:
    """The scheduler without Slack, in the foreground until SIGTERM or Ctrl-C."""
    from stacks.scheduler import Scheduler

    stop = stop_on_signals()  # before it says it runs: a stop asked for from then on is clean
    scheduler = Scheduler(engine).start()
    say(f"yadockeri is running: idle pass every {format_duration(engine.settings.reaper_interval)}, stacks sleep "
        f"after {format_duration(engine.settings.sleep_after)} idle and are reaped after "
        f"{format_duration(engine.settings.reap_after)} (+{format_duration(engine.settings.reap_warning)} warning)")
    try:
        while not stop.wait(1):
            pass
    finally:
        scheduler.stop()
    return EXIT_OK


def stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set (instead of ending the process where it stands)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def do_keep(engine: Engine, command: Command) -> int:
    until = engine.keep(command.stack or "", actor(), seconds=command.keep_seconds, forever=command.forever)
    when = "forever" if command.forever else f"until {until.astimezone().strftime('%Y-%m-%d %H:%M')}"
    say(f"{command.stack} is kept {when}: it will not sleep or be reaped before")
    return EXIT_OK


def do_token(engine: Engine, command: Command) -> int:
    """Named API tokens (command line only): create shows the token once."""
    if command.token_action == "list":
        rows = [(t.name, t.owner, "admin" if t.admin else "", t.hint + "…", _ago(t.created_at),
                 t.expires_at.strftime("%Y-%m-%d") if t.expires_at else "never", _ago(t.last_used_at))
                for t in engine.tokens.all()]
        _table([("NAME", "ACTS AS", "", "TOKEN", "CREATED", "EXPIRES", "LAST USED"), *rows])
        return EXIT_OK
    if command.token_action == "revoke":
        engine.tokens.revoke(command.token_name or "", actor())
        say(f"token {command.token_name} revoked: it is refused from now on")
        return EXIT_OK
    token = engine.tokens.create_named(command.token_name or "", actor(), admin=command.token_admin,
                                       expires_in=command.expires_seconds)
    say(f"token {command.token_name} (acts as token:{command.token_name}"
        f"{', an admin' if command.token_admin else ''}); shown this once, store it as a CI secret:\n{token}")
    return EXIT_OK


def do_bot(engine: Engine, command: Command) -> int:
    from bot.main import run_bot  # Slack is only imported when the bot runs

    return run_bot(engine)


def do_install(engine: Engine, command: Command) -> int:
    """yadockeri as swarm services: router, secrets, the bot (docs/install.md)."""
    from stacks.install import Installer

    Installer(engine.swarm, engine.settings, say=say).install()
    return EXIT_OK


def do_uninstall(engine: Engine, command: Command) -> int:
    from stacks.install import Uninstaller

    def destroy_local() -> int:  # yadockeri not installed as a service: the stacks of this database
        finals = [engine.destroy(s.name, actor(), reporter=TerminalReporter(show_log=False)).wait()
                  for s in engine.list_stacks()]
        return sum(1 for final in finals if final.state == "succeeded")

    Uninstaller(engine.swarm, engine.settings, say=say).uninstall(
        with_stacks=command.with_stacks, destroy_local=destroy_local)
    return EXIT_OK


HANDLERS: dict[str, Callable[[Engine, Command], int]] = {
    "deploy": do_deploy,
    "redeploy": do_redeploy,
    "destroy": do_destroy,
    "env": do_env,
    "list": do_list,
    "status": do_status,
    "logs": do_logs,
    "router": do_router,
    "up": do_up,
    "bot": do_bot,
    "install": do_install,
    "uninstall": do_uninstall,
    "reaper": do_reaper,
    "keep": do_keep,
    "token": do_token,
}


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    return "just now" if seconds < 5 else f"{format_duration(_round(seconds))} ago"


def _round(seconds: int) -> int:
    for size in (86400, 3600, 60):
        if seconds >= size:
            return seconds // size * size
    return seconds


def _table(rows: list[tuple[str, ...]]) -> None:
    rows = [tuple(inert_line(str(cell)) for cell in row) for row in rows]  # one line per row, whatever a cell holds
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _internal_error(error: Exception) -> int:
    try:
        from stacks.config import load_settings

        path = load_settings().data_dir / "logs" / "errors.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(f"--- {datetime.now(UTC).isoformat()}\n{traceback.format_exc()}\n")
        where = f" (details in {path})"
    except Exception:  # noqa: BLE001 - writing the trace is best effort
        where = ""
    say(f"yadockeri: internal error: {type(error).__name__}: {error}{where}", file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
