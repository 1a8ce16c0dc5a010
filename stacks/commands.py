"""The one command parser: words in, a Command or a clear UsageError out.

The `yadockeri` command line and the Slack `/yadockeri` command both go through `parse`, so the
two always accept the same words. Names are checked here, before anything runs.
"""

from __future__ import annotations

import html
import shlex
from dataclasses import dataclass
from typing import Literal

from .errors import InvalidName, UsageError
from .names import (
    check_app_name,
    check_branch,
    check_env_key,
    check_env_value,
    check_process_name,
    check_stack_name,
    describe_char,
    echo,
    parse_duration,
    unreadable_char,
)

Origin = Literal["cli", "slack"]

KEEP_DEFAULT = 7 * 86400
KEEP_MAX = 30 * 86400

USAGE: dict[str, str] = {
    "deploy": "deploy STACK BRANCH [--app APP]   create stack STACK from BRANCH, or move it there",
    "redeploy": "redeploy STACK                    rebuild the same branch at its newest commit",
    "destroy": "destroy STACK                     remove everything of the stack",
    "env": "env STACK [set KEY=VALUE ... | unset KEY ...]   show or change env vars (no rebuild)",
    "list": "list [--summary]                  what runs (--summary: counts, limits, room left)",
    "status": "status STACK                      its state, URL and last deployments",
    "logs": "logs STACK [PROCESS]              recent logs of a process (default: web)",
    "keep": "keep STACK [--for 7d]             protect a stack from sleep and reap (max 30d)",
    "token": "token [revoke]                    your token for the HTTP API, shown once (revoke: forget it)",
    "help": "help                              this text",
}
CLI_USAGE: dict[str, str] = {
    "up": "up                                bring up the router and the example app, then run in the foreground",
    "router": "router [--migrate-network]        bring up the router (and move it to YADOCKERI_ROUTER_SUBNET)",
    "bot": "bot                               run the Slack bot (and the scheduler)",
    "reaper": "reaper                            run the scheduler without Slack",
    "install": "install                           install yadockeri as swarm services",
    "uninstall": "uninstall [--stacks]              remove yadockeri (and with --stacks, every stack)",
}
CLI_TOKEN_USAGE = ("token create NAME [--admin] [--expires 90d] | token list | token revoke NAME   "
                   "named API tokens (admins)")
CLI_ONLY = frozenset(CLI_USAGE)


@dataclass(frozen=True)
class Command:
    verb: str  # "" means no words: the front end offers its deploy form
    stack: str | None = None
    branch: str | None = None
    app: str | None = None
    process: str | None = None
    yes: bool = False
    env_set: tuple[tuple[str, str], ...] = ()
    env_unset: tuple[str, ...] = ()
    keep_seconds: int | None = None
    forever: bool = False
    summary: bool = False  # list --summary
    with_stacks: bool = False
    migrate_network: bool = False  # router --migrate-network
    topic: str | None = None  # for `help VERB`
    token_action: str | None = None  # token: mine (Slack: yours), revoke-mine, create, list, revoke
    token_name: str | None = None
    token_admin: bool = False
    expires_seconds: int | None = None

    @property
    def changes_env(self) -> bool:
        return bool(self.env_set or self.env_unset)


def usage(origin: Origin = "cli", verb: str | None = None) -> str:
    prefix = "/yadockeri " if origin == "slack" else "yadockeri "
    table = dict(USAGE)
    if origin == "cli":
        table.update(CLI_USAGE)
        table["destroy"] = "destroy STACK [--yes]             remove everything of the stack (asks first)"
        table["token"] = CLI_TOKEN_USAGE
    if verb in table:
        return "usage: " + prefix + table[verb]
    lines = [prefix + line for line in table.values()]
    if origin == "slack":
        lines.insert(0, "/yadockeri                         a form to deploy a branch")
    return "\n".join(lines)


def tokenize(text: str) -> list[str]:
    """Split Slack text like a shell would, without any shell."""
    # Slack escapes &, <, > and may turn quotes into typographic ones.
    text = html.unescape(text).translate(str.maketrans('“”‘’', '""\'\''))
    try:
        return shlex.split(text)
    except ValueError as error:
        raise UsageError(f"cannot read that command: {error} (check the quotes)\n{usage('slack')}") from None


def parse(words: list[str] | str, origin: Origin = "cli") -> Command:
    if isinstance(words, str):
        words = tokenize(words)
    if not words:
        return Command(verb="")
    _refuse_unreadable(words, origin)
    # Only ASCII is lowered: `\u212aeep` (Kelvin sign) must not become `keep`.
    verb, rest = (words[0].lower() if words[0].isascii() else words[0]), list(words[1:])
    if verb in CLI_ONLY:
        if origin != "cli":
            raise UsageError(f"`{verb}` only works on the yadockeri command line, not in Slack\n{usage(origin)}")
        return _parse_cli_only(verb, rest)
    parser = _PARSERS.get(verb)
    if parser is None:
        raise UsageError(f"unknown command `{_echo(verb)}`\n{usage(origin)}")
    try:
        return parser(rest, origin)
    except InvalidName as error:
        raise UsageError(f"{error}\n{usage(origin, verb)}") from None


# Each verb -----------------------------------------------------------------------------------
def _parse_deploy(rest: list[str], origin: Origin) -> Command:
    options, args = _options(rest, {"--app": True}, "deploy", origin)
    stack, branch = _positionals(args, ["STACK", "BRANCH"], "deploy", origin)
    app = options.get("--app")
    return Command(
        verb="deploy", stack=check_stack_name(stack), branch=check_branch(branch),
        app=check_app_name(app) if app else None,
    )


def _parse_stack_only(verb: str):
    def parse_it(rest: list[str], origin: Origin) -> Command:
        flags = {"--yes": False, "-y": False} if verb == "destroy" and origin == "cli" else {}
        options, args = _options(rest, flags, verb, origin)
        (stack,) = _positionals(args, ["STACK"], verb, origin)
        return Command(verb=verb, stack=check_stack_name(stack), yes="--yes" in options or "-y" in options)

    return parse_it


def _parse_env(rest: list[str], origin: Origin) -> Command:
    if not rest:
        raise UsageError(f"env needs a stack name\n{usage(origin, 'env')}")
    stack = check_stack_name(rest[0])
    if len(rest) == 1:
        return Command(verb="env", stack=stack)
    action, items = rest[1].lower(), rest[2:]
    if not items:
        raise UsageError(f"`env {stack} {_echo(action)}` needs at least one variable\n{usage(origin, 'env')}")
    if action == "set":
        pairs = []
        for item in items:
            key, sep, value = item.partition("=")
            if not sep:
                raise UsageError(f"`{_echo(item)}` is not KEY=VALUE\n{usage(origin, 'env')}")
            pairs.append((check_env_key(key), check_env_value(key, value)))
        return Command(verb="env", stack=stack, env_set=tuple(pairs))
    if action == "unset":
        return Command(verb="env", stack=stack, env_unset=tuple(check_env_key(k) for k in items))
    raise UsageError(f"env takes `set` or `unset`, not `{_echo(action)}`\n{usage(origin, 'env')}")


def _parse_list(rest: list[str], origin: Origin) -> Command:
    options, args = _options(rest, {"--summary": False}, "list", origin)
    _positionals(args, [], "list", origin)
    return Command(verb="list", summary="--summary" in options)


def _parse_logs(rest: list[str], origin: Origin) -> Command:
    _, args = _options(rest, {}, "logs", origin)
    if not 1 <= len(args) <= 2:
        raise UsageError(f"logs needs a stack name and optionally a process\n{usage(origin, 'logs')}")
    process = check_process_name(args[1]) if len(args) == 2 else "web"
    return Command(verb="logs", stack=check_stack_name(args[0]), process=process)


def _parse_keep(rest: list[str], origin: Origin) -> Command:
    options, args = _options(rest, {"--for": True, "--forever": False}, "keep", origin)
    (stack,) = _positionals(args, ["STACK"], "keep", origin)
    if "--forever" in options and "--for" in options:
        raise UsageError(f"say either --for or --forever, not both\n{usage(origin, 'keep')}")
    seconds = parse_duration(options["--for"]) if "--for" in options else KEEP_DEFAULT
    if seconds <= 0 or seconds > KEEP_MAX:
        raise UsageError(f"keep lasts at most 30d (and more than 0s)\n{usage(origin, 'keep')}")
    return Command(verb="keep", stack=check_stack_name(stack), keep_seconds=seconds, forever="--forever" in options)


def _parse_token(rest: list[str], origin: Origin) -> Command:
    """Slack: `token` (a personal token, shown once) and `token revoke`. The command line:
    named tokens, `token create NAME [--admin] [--expires 90d]`, `token list`, `token revoke NAME`."""
    from .tokens import check_token_name  # names of tokens are checked like every name here

    if origin == "slack":
        options, args = _options(rest, {}, "token", origin)
        if args not in ([], ["revoke"]):
            raise UsageError(f"token takes nothing, or `revoke`\n{usage(origin, 'token')}")
        return Command(verb="token", token_action="revoke-mine" if args else "mine")
    options, args = _options(rest, {"--admin": False, "--expires": True}, "token", origin)
    action = args[0].lower() if args else ""
    if action == "list" and len(args) == 1 and not options:
        return Command(verb="token", token_action="list")
    if action == "revoke" and len(args) == 2 and not options:
        return Command(verb="token", token_action="revoke", token_name=args[1])
    if action == "create" and len(args) == 2:
        seconds = parse_duration(options["--expires"]) if "--expires" in options else None
        if seconds is not None and seconds <= 0:
            raise UsageError(f"--expires must be more than 0s\n{usage(origin, 'token')}")
        return Command(verb="token", token_action="create", token_name=check_token_name(args[1]),
                       token_admin="--admin" in options, expires_seconds=seconds)
    raise UsageError(f"token takes `create NAME`, `list` or `revoke NAME`\n{usage(origin, 'token')}")


def _parse_help(rest: list[str], origin: Origin) -> Command:
    return Command(verb="help", topic=rest[0].lower() if rest else None)


def _parse_cli_only(verb: str, rest: list[str]) -> Command:
    flags = {"uninstall": {"--stacks": False}, "router": {"--migrate-network": False}}.get(verb, {})
    options, args = _options(rest, flags, verb, "cli")
    _positionals(args, [], verb, "cli")
    return Command(verb=verb, with_stacks="--stacks" in options, migrate_network="--migrate-network" in options)


_PARSERS = {
    "deploy": _parse_deploy,
    "redeploy": _parse_stack_only("redeploy"),
    "destroy": _parse_stack_only("destroy"),
    "status": _parse_stack_only("status"),
    "env": _parse_env,
    "list": _parse_list,
    "ls": _parse_list,
    "logs": _parse_logs,
    "keep": _parse_keep,
    "token": _parse_token,
    "help": _parse_help,
}


# Helpers -------------------------------------------------------------------------------------
def _options(words: list[str], known: dict[str, bool], verb: str, origin: Origin) -> tuple[dict[str, str], list[str]]:
    """Split `--name value`, `--name=value` and flags from positionals. known: name -> takes a value."""
    options: dict[str, str] = {}
    args: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word.startswith("-") and len(word) > 1:
            name, sep, value = word.partition("=")
            if name not in known:
                raise UsageError(f"{verb} does not take `{_echo(name)}`\n{usage(origin, verb)}")
            if known[name] and not sep:
                index += 1
                if index >= len(words):
                    raise UsageError(f"`{name}` needs a value\n{usage(origin, verb)}")
                value = words[index]
            elif not known[name] and sep:
                raise UsageError(f"`{name}` takes no value\n{usage(origin, verb)}")
            options[name] = value
        else:
            args.append(word)
        index += 1
    return options, args


def _positionals(args: list[str], names: list[str], verb: str, origin: Origin) -> list[str]:
    if len(args) < len(names):
        missing = " ".join(names[len(args):])
        raise UsageError(f"{verb} needs {missing}\n{usage(origin, verb)}")
    if len(args) > len(names):
        raise UsageError(f"{verb} got too many words: `{_echo(' '.join(args[len(names):]))}`\n{usage(origin, verb)}")
    return args


def _refuse_unreadable(words: list[str], origin: Origin) -> None:
    """NUL and lone surrogates cannot reach a name check, git, the database or a process:
    refused up front with the usage answer. A value after `=` is never echoed (env values are secret)."""
    verb = words[0].lower() if isinstance(words[0], str) and words[0].isascii() else None
    for word in words:
        if not isinstance(word, str):
            raise UsageError(f"cannot read a word of that command: it is not text\n{usage(origin, verb)}")
        bad = unreadable_char(word)
        if bad is None:
            continue
        name, sep, _ = word.partition("=")
        if sep and unreadable_char(name) is None:
            raise UsageError(
                f"the value after `{echo(name)}=` contains {describe_char(bad)}, which cannot be stored or "
                f"passed to a process\n{usage(origin, verb)}"
            )
        raise UsageError(f"`{echo(word)}` contains {describe_char(bad)}; remove it\n{usage(origin, verb)}")


def _echo(text: str) -> str:
    """Words of the grammar are ASCII: anything else is shown escaped, so a look-alike is visible."""
    return echo(text, ascii_only=True)
