"""Unit tests for stacks.appspec: .yadockeri.yml -> AppSpec."""

import textwrap

import pytest
from pydantic import ValidationError

from stacks.appspec import AppSpec, ProcessSpec, Resources, parse_appspec, parse_memory
from stacks.errors import SpecError, YadockeriError

DEFAULTS = {
    "build": {"dockerfile": "Dockerfile", "context": "."},
    "processes": {"web": {"command": None}},
    "services": None,
    "env": {},
    "release": None,
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
        resources: {web: {cpus: 1, memory: 1g}}
        """
    )
    assert parsed.model_dump() == {
        "build": {"dockerfile": "Dockerfile", "context": "."},
        "processes": {
            "web": {"command": "bin/rails server -b 0.0.0.0 -p $PORT"},
            "worker": {"command": "bundle exec sidekiq"},
        },
        "services": "docker-compose-yadockeri.yml",
        "env": {"RAILS_ENV": "staging"},
        "release": "bin/rails db:migrate",
        "resources": {"web": {"cpus": 1.0, "memory_bytes": 1024**3}},
    }
    assert parsed.process_names == ("web", "worker")
    assert isinstance(parsed.processes["worker"], ProcessSpec)
    assert isinstance(parsed.resources["web"], Resources)


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
        parsed.release = "rm -rf /"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        parsed.build.dockerfile = "x"  # type: ignore[misc]


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
        ('env: {KEY: "a\\0b"}\n', ["env.KEY must not contain a NUL"]),
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
        ('"a\\0b"', "must not contain a NUL character"),
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
        ("processes: {web: {command: ''}}\n", ".yadockeri.yml: processes.web.command must not be empty (leave the key out instead)"),
        ("processes: {web: {comand: x}}\n", ".yadockeri.yml: processes.web.comand is not a known key (known keys: command)"),
        ("processes: {1: {command: x}}\n", ".yadockeri.yml: processes.1: the name must be a string"),
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
            ".yadockeri.yml: proceses is not a known key (known keys: build, processes, services, env, release, resources)",
        ),
        ("build: {dockerfle: x}\n", ".yadockeri.yml: build.dockerfle is not a known key (known keys: dockerfile, context)"),
        ("resources: {web: {mem: 1g}}\n", ".yadockeri.yml: resources.web.mem is not a known key (known keys: cpus, memory)"),
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
    assert "larger than" in error_of("env:\n" + "  A: x\n" * 50_000)


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
        ("{cpus: .nan}", ".yadockeri.yml: resources.web.cpus must be more than 0 and at most 64"),
        ("{cpus: .inf}", ".yadockeri.yml: resources.web.cpus must be more than 0 and at most 64"),
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


def test_resources_for_uses_own_limits_then_defaults():
    parsed = spec(
        """
        processes: {web: {}, worker: {command: x}, clock: {command: y}}
        resources:
          web: {cpus: 2, memory: 1g}
          worker: {memory: 256m}
        """
    )
    default_memory = 512 * 1024**2
    assert parsed.resources_for("web", 1.0, default_memory) == (2.0, 1024**3)
    assert parsed.resources_for("worker", 1.0, default_memory) == (1.0, 256 * 1024**2)
    assert parsed.resources_for("clock", 0.5, default_memory) == (0.5, default_memory)
    assert parsed.resources_for("release", 0.5, default_memory) == (0.5, default_memory)
    cpus, memory = parsed.resources_for("clock", 1, default_memory)
    assert isinstance(cpus, float) and isinstance(memory, int)


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


@pytest.mark.parametrize("text", ["", "m", "lots", "1x", "1.g", "-1g", "1 g b", "1e3", "0", "0k", "0.0001", 0, -5, 1.5, True, None, [1]])
def test_parse_memory_refuses(text):
    with pytest.raises(SpecError):
        parse_memory(text)


def test_parse_memory_reads_the_settings_default():
    from stacks.config import Settings

    assert parse_memory(Settings.model_fields["default_memory"].default) == 512 * 1024**2
