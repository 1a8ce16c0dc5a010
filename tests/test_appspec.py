"""Unit tests for stacks.appspec: .yadockeri.yml -> AppSpec."""

import re
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stacks.appspec import (
    AppSpec,
    HealthcheckSpec,
    ProcessSpec,
    Resources,
    check_limits,
    parse_appspec,
    parse_memory,
)
from stacks.errors import SpecError, YadockeriError
from stacks.limits import Limits

LIMITS = Limits(default_cpus=1.0, max_cpus=4.0, default_memory=512 * 1024**2, max_memory=4 * 1024**3,
                default_pids=1024, max_pids=4096, max_replicas=4, max_processes=16, max_tmpfs=256 * 1024**2)

DEFAULTS = {
    "build": {"dockerfile": "Dockerfile", "context": ".", "target": None, "args": {}},
    "processes": {"web": {"command": None, "healthcheck": None}},
    "services": None,
    "env": {},
    "release": None,
    "postdeploy": None,
    "predestroy": None,
    "resources": {},
}


def spec(text: str) -> AppSpec:
    return parse_appspec(textwrap.dedent(text))


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as caught:
        parse_appspec(textwrap.dedent(text))
    return str(caught.value)


# --- defaults --------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "\n", "# only a comment\n", "{}\n", "---\n"])
def test_absent_or_empty_file_means_defaults(text):
    parsed = parse_appspec(text)
    assert parsed.model_dump() == DEFAULTS
    assert parsed.process_names == ("web",)
    assert parsed.build.dockerfile == "Dockerfile"
    assert parsed.build.context == "."


@pytest.mark.parametrize(
    "text",
    ["build:\n", "processes:\n", "env:\n", "resources:\n", "services:\n", "release:\n"],
)
def test_keys_without_values_mean_defaults(text):
    assert parse_appspec(text).model_dump() == DEFAULTS


def test_full_example_from_the_design():
    parsed = spec(
        """
        build: {dockerfile: Dockerfile, context: .}
        processes:
          web: {command: "bin/rails server -b 0.0.0.0 -p $PORT"}
          worker: {command: "bundle exec sidekiq"}
        services: docker-compose-yadockeri.yml
        env: {RAILS_ENV: staging}
        release: "bin/rails db:migrate"
        postdeploy: "bin/rails db:seed"
        predestroy: "bin/rails runner Cleanup.call"
        resources: {web: {cpus: 1, memory: 1g}}
        """
    )
    assert parsed.model_dump() == {
        "build": {"dockerfile": "Dockerfile", "context": ".", "target": None, "args": {}},
        "processes": {
            "web": {"command": "bin/rails server -b 0.0.0.0 -p $PORT", "healthcheck": None},
            "worker": {"command": "bundle exec sidekiq", "healthcheck": None},
        },
        "services": "docker-compose-yadockeri.yml",
        "env": {"RAILS_ENV": "staging"},
        "release": "bin/rails db:migrate",
        "postdeploy": "bin/rails db:seed",
        "predestroy": "bin/rails runner Cleanup.call",
        "resources": {"web": {"cpus": 1.0, "memory_bytes": 1024**3, "pids": None}},
    }
    assert parsed.process_names == ("web", "worker")
    assert isinstance(parsed.processes["worker"], ProcessSpec)
    assert isinstance(parsed.resources["web"], Resources)


def test_a_health_check_of_the_web():
    parsed = spec("processes:\n  web: {command: serve, healthcheck: {path: \"/up?full=1\", timeout: 1m30s}}\n")
    assert parsed.processes["web"].healthcheck == HealthcheckSpec(path="/up?full=1", timeout=90.0)
    assert spec("processes: {web: {healthcheck: {path: /up}}}").processes["web"].healthcheck == HealthcheckSpec(
        path="/up", timeout=60.0)
    assert spec("processes: {web: {healthcheck: {path: /up, timeout: 5}}}").processes["web"].healthcheck == HealthcheckSpec(
        path="/up", timeout=5.0)


HC = "processes.web.healthcheck"


@pytest.mark.parametrize(("text", "message"), [
    ("processes: {web: {healthcheck: {path: up}}}", "processes.web.healthcheck.path must be a path of the app starting with `/`"),
    ("processes: {web: {healthcheck: {path: //evil.example/x}}}", f"{HC}.path must be a path of the app, not `//host/...`"),
    ("processes: {web: {healthcheck: {path: \"/up\\r\\nHost: x\"}}}", "processes.web.healthcheck.path must be a path of the app"),
    ("processes: {web: {healthcheck: {}}}", "processes.web.healthcheck.path is required"),
    ("processes: {web: {healthcheck: {path: /up, timeout: 0s}}}", "processes.web.healthcheck.timeout must be between 1s and 30m"),
    ("processes: {web: {healthcheck: {path: /up, timeout: 2h}}}", "processes.web.healthcheck.timeout must be between 1s and 30m"),
    ("processes: {web: {healthcheck: {path: /up, timeout: soon}}}", f"{HC}.timeout must be a duration, like 60s or 2m"),
    ("processes: {web: {healthcheck: {path: /up, tmeout: 1s}}}", f"{HC}.tmeout is not a known key (known keys: path, timeout)"),
    ("processes: {web: {}, worker: {healthcheck: {path: /up}}}",
     "processes.worker.healthcheck: only the web process answers HTTP"),
    ("postdeploy: ''", "postdeploy must not be empty"),
    ("predestroy: 3", "predestroy must be a string"),
])
def test_health_checks_and_hooks_refused(text: str, message: str) -> None:
    with pytest.raises(SpecError) as error:
        spec(text)
    assert message in str(error.value)


def test_web_without_command_runs_the_image_cmd():
    parsed = spec("processes:\n  web:\n  worker: {command: sidekiq}\n")
    assert parsed.processes["web"].command is None
    assert parsed.processes["worker"].command == "sidekiq"


def test_process_names_put_web_first_then_file_order():
    parsed = spec(
        """
        processes:
          worker: {command: a}
          web: {}
          clock: {command: b}
        """
    )
    assert parsed.process_names == ("web", "worker", "clock")


def test_spec_is_frozen():
    parsed = parse_appspec(None)
    with pytest.raises(ValidationError):
        parsed.release = "rm -rf /"  # type: ignore[misc]  # assigning to a frozen model on purpose
    with pytest.raises(ValidationError):
        parsed.build.dockerfile = "x"  # type: ignore[misc]  # assigning to a frozen model on purpose


# --- env --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "yaml_value, expected",
    [
        ("staging", "staging"),
        ('"042"', "042"),
        ("42", "42"),
        ("1.5", "1.5"),
        ("true", "true"),
        ("false", "false"),
        ('""', ""),
        ('"a $b c"', "a $b c"),
    ],
)
def test_env_values_become_strings(yaml_value, expected):
    assert spec(f"env:\n  KEY: {yaml_value}\n").env == {"KEY": expected}


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("env: {bad-key: 1}\n", ["env.bad-key", "env key `bad-key` is not allowed"]),
        ("env: {1ABC: x}\n", ["env.1ABC", "not allowed"]),
        ("env: {PORT: 9000}\n", ["env.PORT", "`PORT` is set by yadockeri"]),
        ("env: {KEY: }\n", ["env.KEY has no value"]),
        ("env: {KEY: [1, 2]}\n", ["env.KEY must be a string, a number or a boolean"]),
        ("env: {KEY: {a: b}}\n", ["env.KEY must be a string, a number or a boolean"]),
        ('env: {KEY: "a\\0b"}\n', ["line 1: a NUL character is not allowed"]),
        ('env: {KEY: "\\ud800"}\n', ["line 1: a lone surrogate (U+D800) is not allowed"]),
        ("env: {KEY: !!binary eA==}\n", ["line 1: the YAML tag `!!binary` is not allowed"]),
        ("env: {KEY: a, KEY: b}\n", ["line 1: the key `KEY` appears twice in one mapping"]),
        ("env: [A=1]\n", ["env must be a mapping"]),
    ],
)
def test_env_errors(text, fragments):
    message = error_of(text)
    assert message.startswith(".yadockeri.yml: ")
    for fragment in fragments:
        assert fragment in message


# --- paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, kept",
    [
        ("Dockerfile", "Dockerfile"),
        ("./Dockerfile", "Dockerfile"),
        ("docker/web/Dockerfile", "docker/web/Dockerfile"),
        ("docker//web/./Dockerfile", "docker/web/Dockerfile"),
        ("~weird", "~weird"),  # a file named ~weird in the repository, no shell expands it
    ],
)
def test_paths_are_normalized(written, kept):
    parsed = spec(f"build: {{dockerfile: '{written}', context: '{written}'}}\nservices: '{written}'\n")
    assert parsed.build.dockerfile == kept
    assert parsed.build.context == kept
    assert parsed.services == kept


@pytest.mark.parametrize("key", ["build.dockerfile", "build.context", "services"])
@pytest.mark.parametrize(
    "value, phrase",
    [
        ("/etc/passwd", "must be a path relative to the repository root, not an absolute path"),
        ("../outside", "must stay inside the repository (no `..`)"),
        ("a/../../b", "must stay inside the repository (no `..`)"),
        ("a/..", "must stay inside the repository (no `..`)"),
        ('""', "must not be empty"),
        ("3", "must be a string"),
        ("[a]", "must be a string"),
    ],
)
def test_paths_must_stay_inside_the_repository(key, value, phrase):
    if key == "services":
        text = f"services: {value}\n"
    else:
        text = f"build: {{{key.split('.')[1]}: {value}}}\n"
    assert error_of(text) == f".yadockeri.yml: {key} {phrase}"


# --- processes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "processes:\n  web: {command: x}\n  worker: {command: 123}\n",
            ".yadockeri.yml: processes.worker.command must be a string",
        ),
        (
            "processes:\n  web: {command: [bundle, exec]}\n",
            ".yadockeri.yml: processes.web.command must be a string",
        ),
        (
            "processes:\n  worker: {command: sidekiq}\n",
            ".yadockeri.yml: processes must include `web`, the process that answers HTTP on $PORT",
        ),
        ("processes: {}\n", ".yadockeri.yml: processes must include `web`, the process that answers HTTP on $PORT"),
        ("processes: [web]\n", ".yadockeri.yml: processes must be a mapping"),
        ("processes: {web: x}\n", ".yadockeri.yml: processes.web must be a mapping"),
        ("processes: {web: {command: ''}}\n",
         ".yadockeri.yml: processes.web.command must not be empty (leave the key out instead)"),
        ("processes: {web: {comand: x}}\n", ".yadockeri.yml: processes.web.comand is not a known key "
                                          "(known keys: command, healthcheck)"),
        (
            "processes: {1: {command: x}}\n",
            ".yadockeri.yml: line 1: the key `1` reads as a number; a mapping key must be a string (quote it)",
        ),
        (
            "processes:\n  web: {}\n  web: {command: x}\n",
            ".yadockeri.yml: line 3: the key `web` appears twice in one mapping",
        ),
    ],
)
def test_process_errors(text, expected):
    assert error_of(text) == expected


@pytest.mark.parametrize("name", ["Worker", "1worker", "work_er", "worker-", "a" * 21, "-w"])
def test_process_names_are_checked(name):
    message = error_of(f"processes:\n  web: {{}}\n  '{name}': {{command: x}}\n")
    assert message.startswith(f".yadockeri.yml: processes.{name}: process name `{name}` is not allowed")


# --- release, unknown keys, top level, YAML -----------------------------------------------


def test_release_command():
    assert spec('release: "bin/rails db:migrate"\n').release == "bin/rails db:migrate"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("release: 1\n", ".yadockeri.yml: release must be a string"),
        ("release: ' '\n", ".yadockeri.yml: release must not be empty (leave the key out instead)"),
        ("release: [a, b]\n", ".yadockeri.yml: release must be a string"),
    ],
)
def test_release_errors(text, expected):
    assert error_of(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "proceses: {}\n",
            ".yadockeri.yml: proceses is not a known key (known keys: build, processes, services, env, release, "
            "postdeploy, predestroy, resources)",
        ),
        ("build: {dockerfle: x}\n",
         ".yadockeri.yml: build.dockerfle is not a known key (known keys: dockerfile, context, target, args)"),
        (
            "resources: {web: {mem: 1g}}\n",
            ".yadockeri.yml: resources.web.mem is not a known key (known keys: cpus, memory, pids)",
        ),
        ("build: Dockerfile\n", ".yadockeri.yml: build must be a mapping"),
    ],
)
def test_unknown_keys_are_refused(text, expected):
    assert error_of(text) == expected


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(text):
    assert error_of(text) == ".yadockeri.yml: the top level must be a mapping of keys (build, processes, ...)"


@pytest.mark.parametrize(
    "text, line",
    [
        ("env: {A: 1\n", 2),
        ("processes:\n  web: {command: x}\n   bad: indent\n", 3),
        ("env:\n  A: 'unclosed\n", 3),
        ("release: x\n\tbad: tab\n", 2),
    ],
)
def test_invalid_yaml_names_the_line(text, line):
    message = error_of(text)
    assert message.startswith(f".yadockeri.yml: invalid YAML at line {line},")


def test_huge_file_is_refused():
    assert error_of("env:\n" + "  A: x\n" * 50_000) == (
        ".yadockeri.yml: the file is larger than 256 KiB (YADOCKERI_MAX_SPEC_BYTES)"
    )


def test_size_bound_comes_from_the_caller():
    text = "env:\n" + "".join(f"  A{n}: x\n" for n in range(200))
    assert len(spec(text).env) == 200
    with pytest.raises(SpecError, match=r"^\.yadockeri\.yml: the file is larger than 1 KiB"):
        parse_appspec(text, max_bytes=1024)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("build: !!binary eA==\n", ".yadockeri.yml: line 1: the YAML tag `!!binary` is not allowed: write plain values"),
        ("x: &a [*a]\n", ".yadockeri.yml: line 1: the alias `*a` refers to the node that contains it"),
        ("release: x\nrelease: y\n", ".yadockeri.yml: line 2: the key `release` appears twice in one mapping"),
        ("env: " + "[" * 100 + "]" * 100 + "\n", ".yadockeri.yml: line 1: the file is nested more than 40 levels deep"),
        ("resources: {web: {cpus: .inf}}\n",
         ".yadockeri.yml: line 1: the number `.inf` is not finite (infinity and NaN are not allowed)"),
        ("resources: {web: {pids: 99999999999999999999}}\n",
         ".yadockeri.yml: line 1: the number `99999999999999999999` is outside the 64-bit integer range"),
    ],
)
def test_yaml_refusals_name_the_line(text, expected):
    assert error_of(text) == expected


def test_merge_keys_work_in_the_spec():
    merged = spec("processes:\n  web: &w {command: serve}\n  worker: {<<: *w, command: work}\n  clock: {<<: *w}\n")
    assert merged.processes["clock"].command == "serve"
    assert merged.processes["worker"].command == "work"


def test_spec_error_is_a_yadockeri_error():
    assert issubclass(SpecError, YadockeriError)


# --- resources ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, cpus, memory",
    [
        ("{cpus: 1, memory: 1g}", 1.0, 1024**3),
        ("{cpus: 0.25}", 0.25, None),
        ("{cpus: '0.5'}", 0.5, None),
        ("{cpus: 64}", 64.0, None),
        ("{memory: 512m}", None, 512 * 1024**2),
        ("{memory: 1.5g}", None, int(1.5 * 1024**3)),
        ("{memory: 268435456}", None, 268435456),
        ("{}", None, None),
        ("", None, None),
    ],
)
def test_resources(written, cpus, memory):
    parsed = spec(f"resources:\n  web: {written}\n")
    assert parsed.resources["web"].cpus == cpus
    assert parsed.resources["web"].memory_bytes == memory


@pytest.mark.parametrize(
    "written, expected",
    [
        ("{cpus: 0}", ".yadockeri.yml: resources.web.cpus must be more than 0 and at most 64"),
        ("{cpus: -1}", ".yadockeri.yml: resources.web.cpus must be more than 0 and at most 64"),
        ("{cpus: 65}", ".yadockeri.yml: resources.web.cpus must be more than 0 and at most 64"),
        ("{cpus: '.nan'}", ".yadockeri.yml: resources.web.cpus must be a number of CPUs, like 0.5 or 2"),
        ("{cpus: 'inf'}", ".yadockeri.yml: resources.web.cpus must be a number of CPUs, like 0.5 or 2"),
        ("{cpus: 1e400}", ".yadockeri.yml: resources.web.cpus must be a number of CPUs, like 0.5 or 2"),
        ("{cpus: '1e400'}", ".yadockeri.yml: resources.web.cpus must be a number of CPUs, like 0.5 or 2"),
        ("{cpus: '1_0'}", ".yadockeri.yml: resources.web.cpus must be a number of CPUs, like 0.5 or 2"),
        ("{cpus: '\u0661'}", ".yadockeri.yml: resources.web.cpus must be a number of CPUs, like 0.5 or 2"),
        ("{cpus: 1.0e+300}", ".yadockeri.yml: resources.web.cpus must be more than 0 and at most 64"),
        ("{cpus: 9223372036854775807}", ".yadockeri.yml: resources.web.cpus must be more than 0 and at most 64"),
        ("{pids: 0}", ".yadockeri.yml: resources.web.pids must be a whole number of at least 1"),
        ("{pids: -5}", ".yadockeri.yml: resources.web.pids must be a whole number of at least 1"),
        ("{pids: '100'}", ".yadockeri.yml: resources.web.pids must be a whole number"),
        ("{pids: 1.5}", ".yadockeri.yml: resources.web.pids must be a whole number"),
        ("{pids: true}", ".yadockeri.yml: resources.web.pids must be a whole number"),
        ("{memory: 1e400}", ".yadockeri.yml: resources.web.memory: memory `1e400` is not understood: write it like 512m or 1g"),
        ("{cpus: true}", ".yadockeri.yml: resources.web.cpus must be a number of CPUs, like 0.5 or 2"),
        ("{cpus: lots}", ".yadockeri.yml: resources.web.cpus must be a number of CPUs, like 0.5 or 2"),
        ("{memory: 0}", ".yadockeri.yml: resources.web.memory: memory `0` must be more than zero"),
        ("{memory: 0m}", ".yadockeri.yml: resources.web.memory: memory `0m` must be more than zero"),
        (
            "{memory: lots}",
            ".yadockeri.yml: resources.web.memory: memory `lots` is not understood: write it like 512m or 1g",
        ),
        (
            "{memory: -1g}",
            ".yadockeri.yml: resources.web.memory: memory `-1g` is not understood: write it like 512m or 1g",
        ),
        ("{memory: true}", ".yadockeri.yml: resources.web.memory: memory `True` is not understood: write it like 512m or 1g"),
        ("{memory: 1.5}", ".yadockeri.yml: resources.web.memory: memory `1.5` is not understood: write it like 512m or 1g"),
        ("x", ".yadockeri.yml: resources.web must be a mapping"),
    ],
)
def test_resource_errors(written, expected):
    assert error_of(f"resources:\n  web: {written}\n") == expected


def test_resources_may_only_name_processes():
    assert error_of("processes: {web: {}, worker: {command: x}}\nresources: {wrker: {cpus: 1}}\n") == (
        ".yadockeri.yml: resources.wrker names no process (the processes are: web, worker)"
    )


def test_resources_for_uses_own_values_then_the_defaults():
    parsed = spec(
        """
        processes: {web: {}, worker: {command: x}, clock: {command: y}}
        resources:
          web: {cpus: 2, memory: 1g, pids: 200}
          worker: {memory: 256m}
        """
    )
    assert parsed.resources_for("web", LIMITS) == (2.0, 1024**3, 200)
    assert parsed.resources_for("worker", LIMITS) == (1.0, 256 * 1024**2, 1024)
    assert parsed.resources_for("clock", LIMITS) == (1.0, 512 * 1024**2, 1024)
    assert parsed.resources_for("release", LIMITS) == (1.0, 512 * 1024**2, 1024)
    cpus, memory, pids = parsed.resources_for("clock", LIMITS)
    assert isinstance(cpus, float) and isinstance(memory, int) and isinstance(pids, int)
    check_limits(parsed, LIMITS)


@pytest.mark.parametrize(
    "written, expected",
    [
        # 0.0000000001 CPUs would round to 0 nano-CPUs, which Docker reads as "no limit".
        ("{cpus: 0.0000000001}", "resources.web.cpus is 1e-10: it must be between 0.01 and 4 (YADOCKERI_MAX_CPUS)"),
        ("{cpus: '0.001'}", "resources.web.cpus is 0.001: it must be between 0.01 and 4 (YADOCKERI_MAX_CPUS)"),
        ("{cpus: 8}", "resources.web.cpus is 8: it must be between 0.01 and 4 (YADOCKERI_MAX_CPUS)"),
        ("{memory: 5g}", "resources.web.memory is 5g: it must be between 6m and 4g (YADOCKERI_MAX_MEMORY)"),
        ("{memory: 1t}", "resources.web.memory is 1024g: it must be between 6m and 4g (YADOCKERI_MAX_MEMORY)"),
        ("{memory: 1k}", "resources.web.memory is 1k: it must be between 6m and 4g (YADOCKERI_MAX_MEMORY)"),
        ("{pids: 100000}", "resources.web.pids must be a whole number from 1 to 4096 (YADOCKERI_MAX_PIDS)"),
    ],
)
def test_limits_are_checked_against_the_settings(written, expected):
    parsed = spec(f"resources:\n  web: {written}\n")
    with pytest.raises(SpecError) as caught:
        check_limits(parsed, LIMITS)
    assert str(caught.value) == f".yadockeri.yml: {expected}"
    with pytest.raises(SpecError):
        parsed.resources_for("web", LIMITS)


def test_limits_at_the_bounds_are_fine():
    parsed = spec("resources:\n  web: {cpus: 0.01, memory: 4g, pids: 4096}\n")
    check_limits(parsed, LIMITS)
    assert parsed.resources_for("web", LIMITS) == (0.01, 4 * 1024**3, 4096)


def test_too_many_processes_are_refused():
    processes = "".join(f"  p{n}: {{command: x}}\n" for n in range(16))
    parsed = spec("processes:\n  web: {}\n" + processes)
    with pytest.raises(SpecError) as caught:
        check_limits(parsed, LIMITS)
    assert str(caught.value) == (
        ".yadockeri.yml: the stack would run 17 processes and 0 middleware services: at most 16 in all "
        "(YADOCKERI_MAX_PROCESSES)"
    )


# --- parse_memory ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("512m", 512 * 1024**2),
        ("1g", 1024**3),
        ("256k", 256 * 1024),
        ("1.5g", int(1.5 * 1024**3)),
        ("1G", 1024**3),
        ("512M", 512 * 1024**2),
        ("512mb", 512 * 1024**2),
        ("512MiB", 512 * 1024**2),
        ("1t", 1024**4),
        (" 64m ", 64 * 1024**2),
        ("1048576", 1048576),
        ("100b", 100),
        (1048576, 1048576),
        (1, 1),
    ],
)
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize(
    "text", ["", "m", "lots", "1x", "1.g", "-1g", "1 g b", "1e3", "0", "0k", "0.0001", 0, -5, 1.5, True, None, [1]],
)
def test_parse_memory_refuses(text):
    with pytest.raises(SpecError):
        parse_memory(text)


def test_parse_memory_reads_the_settings_default():
    from stacks.config import Settings

    assert parse_memory(Settings.model_fields["default_memory"].default) == 512 * 1024**2


# --- properties --------------------------------------------------------------------------

SPECIALS = ["\x00", "\ud800", "\x85", "\u2028", "\t", "\n", "$", "=", ".", "/", "é"]
TEXT = st.text(st.one_of(st.characters(), st.sampled_from(SPECIALS)), max_size=12)
KEYS = st.one_of(
    st.sampled_from(["build", "processes", "services", "env", "release", "resources", "web", "worker", "command",
                     "dockerfile", "context", "cpus", "memory", "pids", "PORT", "KEY"]),
    TEXT,
)
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT,
              st.sampled_from(["0.0000000001", "1e400", "512m", "1g", "-1", "0", ".inf", "22:22", "Dockerfile", "../x", "/etc"])),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=4)),
    max_leaves=20,
)
TAGGED = st.builds(
    lambda key, tag, value: f"{key}: {tag} {value}\n",
    st.sampled_from(["build", "env", "release", "processes"]),
    st.sampled_from(["!!binary", "!!str", "!!python/object/apply:os.system", "!x", "!"]),
    st.sampled_from(["eA==", "x", "[a]", "{a: b}", "1"]),
)


def _as_yaml(data) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:  # e.g. a surrogate PyYAML's emitter cannot write
        return yaml.safe_dump(str(data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.dictionaries(KEYS, VALUES, max_size=6).map(_as_yaml), TAGGED, TEXT))
@example("resources: {web: {cpus: 1e400, memory: 1.0e+400}}\n")
@example("processes: {web: {command: !!binary eA==}}\n")
@example("env: {KEY: \"\\ud800\"}\n")
def test_any_document_gives_a_spec_or_a_clear_refusal(text):
    try:
        parsed = parse_appspec(text)
    except SpecError as error:
        message = str(error)
        assert message.startswith(".yadockeri.yml: ") and "\n" not in message, message
        return
    assert "web" in parsed.processes
    try:
        check_limits(parsed, LIMITS)
    except SpecError as error:
        assert re.match(r"\.yadockeri\.yml: (resources\.[a-z0-9-]+\.(cpus|memory|pids) |the stack would run)", str(error))


def test_env_values_and_build_args_are_kept_as_written():
    """YAML reads `3.10` as 3.1 and `yes` as true: to the app they are the text the file has."""
    parsed = parse_appspec("env:\n  PYTHON_VERSION: 3.10\n  FLAG: yes\n  MODE: 0755\n  QUOTED: \"1.50\"\n"
                           "build:\n  target: prod\n  args: {NODE_VERSION: 20.10, DEBUG: off}\n")
    assert parsed.env == {"PYTHON_VERSION": "3.10", "FLAG": "yes", "MODE": "0755", "QUOTED": "1.50"}
    assert parsed.build.target == "prod"
    assert parsed.build.args == {"NODE_VERSION": "20.10", "DEBUG": "off"}


@pytest.mark.parametrize(("text", "message"), [
    ("build: {args: {BUILDKIT_SYNTAX: evil/frontend}}\n", "build.args.BUILDKIT_SYNTAX must not start with BUILDKIT_"),
    ("build: {args: {buildkit_inline_cache: 1}}\n", "build.args.buildkit_inline_cache must not start with BUILDKIT_"),
    ("build: {args: {1X: y}}\n", "build.args.1X must be a build arg name"),
    ("build: {args: {A: [1]}}\n", "build.args.A must be a string, a number or a boolean"),
    ("build: {target: \"a b\"}\n", "build.target must be a stage name"),
])
def test_bad_build_target_or_args_are_refused(text, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_appspec(text)
