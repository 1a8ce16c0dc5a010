"""The one parser shared by the command line and Slack: words in, Command or UsageError out."""

import pytest

from stacks.commands import KEEP_MAX, Command, parse, usage
from stacks.errors import UsageError


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("deploy akira feature-x", Command(verb="deploy", stack="akira", branch="feature-x")),
        ("deploy akira feature/x --app crowdworks", Command(verb="deploy", stack="akira", branch="feature/x", app="crowdworks")),
        ("deploy --app=crowdworks akira main", Command(verb="deploy", stack="akira", branch="main", app="crowdworks")),
        ("DEPLOY akira main", Command(verb="deploy", stack="akira", branch="main")),
        ("redeploy akira", Command(verb="redeploy", stack="akira")),
        ("destroy akira", Command(verb="destroy", stack="akira")),
        ("list", Command(verb="list")),
        ("list --summary", Command(verb="list", summary=True)),
        ("status toru", Command(verb="status", stack="toru")),
        ("logs akira", Command(verb="logs", stack="akira", process="web")),
        ("logs akira worker", Command(verb="logs", stack="akira", process="worker")),
        ("env akira", Command(verb="env", stack="akira")),
        ('env akira set A=1 GREETING="hello world" EMPTY=', Command(
            verb="env", stack="akira", env_set=(("A", "1"), ("GREETING", "hello world"), ("EMPTY", "")))),
        ("env akira set URL=http://x/?a=b=c", Command(verb="env", stack="akira", env_set=(("URL", "http://x/?a=b=c"),))),
        ("env akira unset A B", Command(verb="env", stack="akira", env_unset=("A", "B"))),
        ("keep akira", Command(verb="keep", stack="akira", keep_seconds=7 * 86400)),
        ("keep akira --for 2h", Command(verb="keep", stack="akira", keep_seconds=7200)),
        ("help", Command(verb="help")),
        ("", Command(verb="")),
        ("   ", Command(verb="")),
    ],
)
def test_parses_the_contract(words: str, expected: Command) -> None:
    assert parse(words, origin="slack") == expected
    assert parse(words, origin="cli") == expected


def test_list_of_words_is_not_split_again() -> None:
    assert parse(["env", "akira", "set", "A=has spaces"]) == Command(verb="env", stack="akira", env_set=(("A", "has spaces"),))


def test_slack_escapes_and_smart_quotes() -> None:
    command = parse("env akira set Q=“a &amp; b” R=&lt;x&gt;", origin="slack")
    assert command.env_set == (("Q", "a & b"), ("R", "<x>"))


def test_destroy_yes_only_on_the_command_line() -> None:
    assert parse("destroy akira --yes", origin="cli") == Command(verb="destroy", stack="akira", yes=True)
    with pytest.raises(UsageError, match="does not take `--yes`"):
        parse("destroy akira --yes", origin="slack")


@pytest.mark.parametrize("verb", ["router", "bot", "reaper", "install", "uninstall", "up"])
def test_command_line_only_verbs_are_refused_from_slack(verb: str) -> None:
    with pytest.raises(UsageError, match="only works on the yadockeri command line"):
        parse(verb, origin="slack")
    assert parse(verb, origin="cli").verb == verb


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("frobnicate", "unknown command `frobnicate`"),
        ("deploy", "deploy needs STACK BRANCH"),
        ("deploy akira", "deploy needs BRANCH"),
        ("deploy akira main extra", "too many words"),
        ("deploy Akira main", "not allowed"),
        ("deploy router main", "reserved"),
        ("deploy yadockeri main", "reserved"),
        ("deploy -akira main", "does not take `-akira`"),
        ("deploy akira --upload-pack=evil", "does not take `--upload-pack`"),
        ("deploy akira main --app", "`--app` needs a value"),
        ("deploy akira main --app Bad!", "app name"),
        ("deploy akira feature..x", "not a valid branch"),
        ("deploy akira feature~1", "not a valid branch"),
        ("deploy akira 'has space'", "not a valid branch"),
        ("deploy akira refs/heads/x.lock", "not a valid branch"),
        (f"deploy {'a' * 41} main", "too long"),
        ("deploy a_b main", "not allowed"),
        ("deploy akira- main", "not allowed"),
        ("redeploy", "redeploy needs STACK"),
        ("env akira set NOEQUALS", "is not KEY=VALUE"),
        ("env akira set 1A=x", "env key"),
        ("env akira set PORT=1", "PORT"),
        ("env akira set", "needs at least one variable"),
        ("env akira frob A", "takes `set` or `unset`"),
        ("logs akira Web!", "process name"),
        ("keep akira --for 31d", "at most 30d"),
        ("keep akira --for soon", "not understood"),
        ("keep akira --for 1d --forever", "either --for or --forever"),
        ('deploy akira "unclosed', "check the quotes"),
        ("list everything", "too many words"),
    ],
)
def test_bad_input_gets_a_clear_usage_error(words: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(words, origin="slack")
    assert message in str(caught.value)
    assert "usage" in str(caught.value) or "/yadockeri" in str(caught.value)


def test_keep_maximum_is_thirty_days() -> None:
    assert parse("keep akira --for 30d").keep_seconds == KEEP_MAX


def test_usage_lists_every_verb_for_its_front_end() -> None:
    slack, cli = usage("slack"), usage("cli")
    for verb in ("deploy", "redeploy", "destroy", "env", "list", "status", "logs", "keep", "help"):
        assert f"/yadockeri {verb}" in slack and f"yadockeri {verb}" in cli
    assert "router" not in slack and "yadockeri router" in cli


# Unreadable and look-alike words (issue 9 item 7, issue 18 item 6) ------------------------------
@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["deploy", "akira\n", "main"], "stack name `akira\\n` is not allowed"),
        (["deploy", "akira\r\n", "main"], "stack name `akira\\r\\n` is not allowed"),
        (["deploy", "\u0430kira", "main"], "stack name `\u0430kira` is not allowed"),
        (["deploy", "akira", "main\n"], "branch `main\\n` is not a valid branch name"),
        (["deploy", "akira", "ma\u200bin"], "U+200B (ZERO WIDTH SPACE)"),
        (["deploy", "akira", "\u202eniam"], "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        (["deploy", "akira", "m\u0430in"], "branch `m\\u0430in` is not allowed"),
        (["deploy", "akira", "main\x9b"], "U+009B"),
        (["deploy", "akira", "main\udc80"], "`main\\udc80` contains a lone surrogate (U+DC80)"),
        (["deploy", "akira", "\udc80"], "`\\udc80` contains a lone surrogate"),
        (["deploy", "aki\x00ra", "main"], "`aki\\x00ra` contains a NUL character (U+0000)"),
        (["deploy", "akira", "main", "--app", "app\x00"], "`app\\x00` contains a NUL character"),
        (["deploy", "akira", "main", "--app=\udc80"], "the value after `--app=` contains a lone surrogate"),
        (["\udc80"], "`\\udc80` contains a lone surrogate"),
        (["de\x00ploy"], "contains a NUL character"),
        (["\u212aeep", "akira"], "unknown command `\\u212aeep`"),
        (["keep", "akira", "--for", "²"], "duration `²` is not understood"),
        (["keep", "akira", "--for", "７d"], "duration `７d` is not understood"),
        (["keep", "akira", "--for", "٣d"], "not understood"),
        (["keep", "akira", "--for=9" + "9" * 5000], "not understood"),
        (["keep", "akira", "--for", "1d\x00"], "contains a NUL character"),
        (["env", "akira", "set", "TOKEN=s3cr\x00t"], "the value after `TOKEN=` contains a NUL character (U+0000)"),
        (["env", "akira", "set", "TOKEN=s3cr\udc80t"], "the value after `TOKEN=` contains a lone surrogate"),
        (["env", "akira", "set", "TOK\x00EN=x"], "`TOK\\x00EN=x` contains a NUL character"),
        (["env", "akira", "set", "TOKEN\n=x"], "env key `TOKEN\\n` is not allowed"),
        (["env", "akira", "unset", "TOKEN\n"], "env key `TOKEN\\n` is not allowed"),
        (["logs", "akira", "web\n"], "process name `web\\n` is not allowed"),
        (["env", "akira", "s\u0435t", "A=1"], "env takes `set` or `unset`, not `s\\u0435t`"),
        (["deploy", "akira", "main", "--\u0430pp", "x"], "does not take `--\\u0430pp`"),
    ],
)
def test_unreadable_and_look_alike_words_get_the_usage_answer(words: list[str], message: str) -> None:
    for origin in ("cli", "slack"):
        with pytest.raises(UsageError) as caught:
            parse(words, origin=origin)
        first, _, rest = str(caught.value).partition("\n")
        assert message in first
        assert "usage" in rest or "yadockeri" in rest
        assert all(ch.isprintable() for ch in first) and len(first) < 400


def test_slack_text_with_a_quoted_newline_is_not_a_look_alike_stack() -> None:
    with pytest.raises(UsageError, match=r"stack name `akira\\n` is not allowed"):
        parse('deploy "akira\n" main', origin="slack")
    with pytest.raises(UsageError, match="U\\+200B"):
        parse("deploy akira ma\u200bin", origin="slack")


def test_env_value_refusals_never_echo_the_value() -> None:
    secret = "hunter2-top-secret"
    for value in (secret + "\x00", secret + "\udc80"):
        with pytest.raises(UsageError) as caught:
            parse(["env", "akira", "set", f"TOKEN={value}"])
        assert secret not in str(caught.value) and "hunter2" not in str(caught.value)


def test_env_values_keep_any_other_text() -> None:
    command = parse(["env", "akira", "set", "A=日本語 🎉", "B=line\nbreak", "C="])
    assert command.env_set == (("A", "日本語 🎉"), ("B", "line\nbreak"), ("C", ""))
