""".yadockeri.yml -> AppSpec, validated.

The file comes from a branch anyone can push. It is read by `stacks.untrusted_yaml` into
plain JSON types (no tags, no duplicate or non-string keys, bounded size and depth: a refusal
there names the line), then every key is checked: unknown keys are refused (a typo must not
be silently ignored), names go through `stacks.names`, and paths must stay inside the
repository. Every problem becomes a `SpecError` whose message names the file and the key
path, e.g. `.yadockeri.yml: processes.worker.command must be a string`.

Resources are checked twice: here for their shape (a positive number of CPUs, a size, a
whole number of pids), and by `check_limits` against the install's `Limits` (minimums and
maximums from settings), which `resources_for` also applies with the defaults.

Paths (`build.dockerfile`, `build.context`, `services`) are kept as written, normalized
(`./Dockerfile` -> `Dockerfile`); all of them are relative to the repository root.
"""

from __future__ import annotations

import math
import posixpath
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .compose import parse_duration
from .errors import InvalidName, SpecError
from .limits import Limits, parse_size
from .names import check_env_key, check_process_name, echo
from .untrusted_yaml import load_untrusted

SOURCE = ".yadockeri.yml"
MAX_TEXT = 256 * 1024  # the default bound; callers pass YADOCKERI_MAX_SPEC_BYTES
MAX_CPUS = 64.0  # a sanity bound of the shape; the install's maximum is checked by check_limits
DEFAULT_HEALTH_TIMEOUT = 60.0  # seconds a health-checked web has to answer 2xx/3xx once it runs
MAX_HEALTH_TIMEOUT = 1800.0


# ---------------------------------------------------------------------------------------
# Memory sizes

def parse_memory(text: str | int) -> int:
    """`512m`, `1g`, `256k`, `1.5g` -> bytes (binary units, as Docker reads them).

    A plain integer (or a string of digits) is bytes. Raises SpecError for anything else
    and for zero.
    """
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise SpecError(f"memory `{text!r}` is not understood: write it like 512m or 1g")
    try:
        return parse_size(text)
    except ValueError:
        if isinstance(text, int) or re.fullmatch(r"\s*0*(?:\.0*)?[kmgt]?(?:i?b)?\s*", text, re.IGNORECASE):
            raise SpecError(f"memory `{_short(str(text))}` must be more than zero") from None
        raise SpecError(f"memory `{_short(text)}` is not understood: write it like 512m or 1g") from None


# ---------------------------------------------------------------------------------------
# Field validators. Each raises PydanticCustomError("spec", ...) with a predicate phrase
# ("must be ...") that `_describe` puts after the key path.


def _fail(phrase: str) -> PydanticCustomError:
    return PydanticCustomError("spec", phrase)


def _relative_path(value: str) -> str:
    """A path inside the repository: no absolute paths, no `..`, no NUL."""
    if not value or not value.strip():
        raise _fail("must not be empty")
    if "\0" in value:
        raise _fail("must not contain a NUL character")
    if value.startswith("/"):
        raise _fail("must be a path relative to the repository root, not an absolute path")
    if ".." in value.split("/"):
        raise _fail("must stay inside the repository (no `..`)")
    return posixpath.normpath(value)


def _command(value: str) -> str:
    if not value.strip():
        raise _fail("must not be empty (leave the key out instead)")
    if "\0" in value:
        raise _fail("must not contain a NUL character")
    return value


def _env_value(value: Any) -> Any:
    """YAML reads `3`, `1.5`, `true` as numbers and booleans; env values are strings."""
    if isinstance(value, bool):
        return "true" if value else "false"  # as YAML wrote it, not Python's `True`
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        raise _fail('has no value; write "" for an empty string')
    if not isinstance(value, str):
        raise _fail("must be a string, a number or a boolean")
    if "\0" in value:
        raise _fail("must not contain a NUL character")
    return value


def _name_check(check: Any) -> Any:
    """Wrap a `stacks.names` check so that its InvalidName reads as a spec error."""

    def validate(value: str) -> str:
        try:
            return check(value)
        except InvalidName as error:
            raise PydanticCustomError("spec_name", "{reason}", {"reason": str(error)}) from None

    return validate


_DECIMAL = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,12})?|\.[0-9]{1,12}")


def _cpus(value: Any) -> Any:
    # A quoted "0.5" is what compose files usually say; accept it too (ASCII digits only:
    # float() would also take "1e400", "nan", "1_0" and other scripts' digits).
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail("must be a number of CPUs, like 0.5 or 2")
    return float(value)  # an int beyond float's range is refused at load (int64)


def _cpus_range(value: float) -> float:
    if math.isnan(value) or not 0 < value <= MAX_CPUS:
        raise _fail(f"must be more than 0 and at most {MAX_CPUS:g}")
    return value


def _memory(value: Any) -> int | None:
    if value is None:
        return value
    try:
        return parse_memory(value)
    except SpecError as error:
        raise PydanticCustomError("spec_name", "{reason}", {"reason": str(error)}) from None


def _pids(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise _fail("must be a whole number of at least 1")
    return value


_STAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_ARG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def _stage(value: str) -> str:
    if not _STAGE.match(value):
        raise _fail("must be a stage name of the Dockerfile (letters, digits, . _ -)")
    return value


def _build_arg(value: str) -> str:
    if not _ARG.match(value):
        raise _fail("must be a build arg name (letters, digits and _, not starting with a digit)")
    if value.upper().startswith("BUILDKIT_"):
        raise _fail("must not start with BUILDKIT_ (those change how BuildKit builds, not the app)")
    return value


_PATH_CHARS = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,199}")


def _health_path(value: str) -> str:
    """A path of the app, sent as written: no scheme or host (the router sends it to the stack)."""
    if not _PATH_CHARS.fullmatch(value):
        raise _fail("must be a path of the app starting with `/`, like /up (printable URL characters, "
                    "at most 200)")
    if value.startswith("//"):
        raise _fail("must be a path of the app, not `//host/...`")
    return value


def _seconds(value: Any) -> Any:
    """`60s`, `2m`, `1m30s` or a number of seconds -> seconds (a float)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    nanoseconds = parse_duration(value) if isinstance(value, str) else None
    if nanoseconds is None:
        raise _fail("must be a duration, like 60s or 2m")
    return nanoseconds / 1e9


def _seconds_range(value: float) -> float:
    if not 1 <= value <= MAX_HEALTH_TIMEOUT:
        raise _fail(f"must be between 1s and {MAX_HEALTH_TIMEOUT // 60:.0f}m")
    return value


def _none_is_empty(value: Any) -> Any:
    """`key:` with nothing after it reads as null in YAML; treat it as an empty mapping."""
    return {} if value is None else value


RelativePath = Annotated[str, AfterValidator(_relative_path)]
Command = Annotated[str, AfterValidator(_command)]
EnvKey = Annotated[str, AfterValidator(_name_check(check_env_key))]
EnvValue = Annotated[str, BeforeValidator(_env_value)]
Stage = Annotated[str, AfterValidator(_stage)]
BuildArg = Annotated[str, AfterValidator(_build_arg)]
ProcessName = Annotated[str, AfterValidator(_name_check(check_process_name))]
Cpus = Annotated[float, BeforeValidator(_cpus), AfterValidator(_cpus_range)]
MemoryBytes = Annotated[int | None, BeforeValidator(_memory)]
Pids = Annotated[int | None, AfterValidator(_pids)]
HealthPath = Annotated[str, AfterValidator(_health_path)]
Seconds = Annotated[float, BeforeValidator(_seconds), AfterValidator(_seconds_range)]


# ---------------------------------------------------------------------------------------
# Models


class _Frozen(BaseModel):
    # strict: YAML `command: 123` is a mistake, not a string; forbid: typos are caught.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class BuildSpec(_Frozen):
    dockerfile: RelativePath = "Dockerfile"
    context: RelativePath = "."
    target: Stage | None = None  # the stage to build (`docker build --target`); the last one by default
    # Shown in the build log: not for secrets (an app's build_secrets in yadockeri.yml are).
    args: Annotated[dict[BuildArg, EnvValue], BeforeValidator(_none_is_empty)] = Field(default_factory=dict)


class HealthcheckSpec(_Frozen):
    """`processes.web.healthcheck`: the deploy is live when `path` answers 2xx or 3xx from the
    new tasks through the router, within `timeout` of them running."""

    path: HealthPath
    timeout: Seconds = DEFAULT_HEALTH_TIMEOUT


class ProcessSpec(_Frozen):
    command: Command | None = None  # None: the image's CMD
    healthcheck: HealthcheckSpec | None = None


class Resources(_Frozen):
    cpus: Cpus | None = None
    memory_bytes: MemoryBytes = Field(None, alias="memory")
    pids: Pids = None

    model_config = ConfigDict(populate_by_name=True)


def _default_processes() -> dict[str, ProcessSpec]:
    return {"web": ProcessSpec()}


class AppSpec(_Frozen):
    build: Annotated[BuildSpec, BeforeValidator(_none_is_empty)] = Field(default_factory=BuildSpec)
    processes: Annotated[
        dict[ProcessName, Annotated[ProcessSpec, BeforeValidator(_none_is_empty)]],
        BeforeValidator(lambda v: _default_processes() if v is None else v),
    ] = Field(default_factory=_default_processes)
    services: RelativePath | None = None
    env: Annotated[dict[EnvKey, EnvValue], BeforeValidator(_none_is_empty)] = Field(default_factory=dict)
    release: Command | None = None  # before the processes start on a new image (migrations)
    postdeploy: Command | None = None  # once, after the stack's first successful deploy (seed data)
    predestroy: Command | None = None  # before a destroy or a reap
    resources: Annotated[
        dict[ProcessName, Annotated[Resources, BeforeValidator(_none_is_empty)]],
        BeforeValidator(_none_is_empty),
    ] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _web_exists(self) -> AppSpec:
        # The router sends HTTP to the web process; an app without one cannot be reached.
        if "web" not in self.processes:
            raise PydanticCustomError(
                "spec_web", "processes must include `web`, the process that answers HTTP on $PORT"
            )
        return self

    @model_validator(mode="after")
    def _healthcheck_on_web_only(self) -> AppSpec:
        for name, process in self.processes.items():
            if process.healthcheck is not None and name != "web":
                raise PydanticCustomError(
                    "spec_web", "processes.{name}.healthcheck: only the web process answers HTTP; "
                    "a health check belongs to `web`", {"name": name})
        return self

    @model_validator(mode="after")
    def _resources_name_processes(self) -> AppSpec:
        for name in self.resources:
            if name not in self.processes:
                known = ", ".join(self.process_names)
                raise PydanticCustomError(
                    "spec_resources",
                    "resources.{name} names no process (the processes are: {known})",
                    {"name": name, "known": known},
                )
        return self

    @property
    def process_names(self) -> tuple[str, ...]:
        """web first, then the others in the order the file lists them."""
        return ("web",) + tuple(name for name in self.processes if name != "web")

    def resources_for(self, process: str, limits: Limits, source: str = SOURCE) -> tuple[float, int, int]:
        """(cpus, memory bytes, pids) for a process: its own values, else the install's defaults.

        A name without an entry (also one that is not a process, like a release task) gets
        the defaults. Raises SpecError for a value outside the limits (see check_limits).
        """
        own = self.resources.get(process) or Resources()
        where = f"{source}: resources.{process}"
        return (
            limits.cpus(own.cpus, f"{where}.cpus"),
            limits.memory(own.memory_bytes, f"{where}.memory"),
            limits.pids(own.pids, f"{where}.pids"),
        )


def check_limits(spec: AppSpec, limits: Limits, source: str = SOURCE) -> None:
    """The spec within the install's limits: CPUs between Docker's minimum (0 nano-CPUs would
    mean "no limit") and YADOCKERI_MAX_CPUS, memory and pids within their maximums, and no more
    processes than YADOCKERI_MAX_PROCESSES. SpecError names `resources.<process>.<key>`."""
    try:
        limits.count(len(spec.processes), 0)
    except SpecError as error:
        raise SpecError(f"{source}: {error}") from None
    for process in spec.resources:
        spec.resources_for(process, limits, source)


# ---------------------------------------------------------------------------------------
# Parsing


def parse_appspec(text: str | None, source: str = SOURCE, *, max_bytes: int = MAX_TEXT) -> AppSpec:
    """Text of .yadockeri.yml (None when the file is absent) -> a validated AppSpec.

    Its limits are checked separately (check_limits), against the install's settings."""
    if text is None:
        return AppSpec()
    data = load_untrusted(text, source, max_bytes=max_bytes)
    if data is None:  # an empty file (or only comments) means defaults
        return AppSpec()
    if not isinstance(data, dict):
        raise SpecError(f"{source}: the top level must be a mapping of keys (build, processes, ...)")
    _strings_as_written(data, load_untrusted(text, source, max_bytes=max_bytes, as_written=True))
    try:
        return AppSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(_describe(error, source)) from None


def _strings_as_written(data: dict[str, Any], written: dict[str, Any]) -> None:
    """Env values and build args are strings: `PYTHON_VERSION: 3.10` is "3.10" (as written),
    not the number YAML reads (3.1). Taken from a second reading that keeps scalars' text."""
    if isinstance(data.get("env"), dict):
        data["env"] = written["env"]
    build, build_written = data.get("build"), written.get("build")
    if isinstance(build, dict) and isinstance(build.get("args"), dict) and isinstance(build_written, dict):
        build["args"] = build_written["args"]


_PHRASES = {
    "string_type": "must be a string",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "int_type": "must be a whole number",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "finite_number": "must be a finite number",
    "missing": "is required",
}


def _describe(error: ValidationError, source: str) -> str:
    """The first problem of a ValidationError as one sentence naming the key path."""
    first = error.errors(include_url=False)[0]
    loc = [str(part) for part in first["loc"]]
    kind = first["type"]
    is_key = bool(loc) and loc[-1] == "[key]"
    if is_key:  # a bad key of a mapping: pydantic puts the key before `[key]`
        loc = loc[:-1]
    path = ".".join(_short(part, 40) for part in _alias(loc))  # keys are the branch's text
    if is_key and kind == "string_type":
        return f"{source}: {path}: the name must be a string"
    if kind == "extra_forbidden":
        return f"{source}: {path} is not a known key{_known_keys(loc[:-1])}"
    if kind in ("spec_web", "spec_resources"):
        return f"{source}: {first['msg']}"
    if kind == "spec_name":
        return f"{source}: {path}: {first['msg']}"
    phrase = first["msg"] if kind == "spec" else _PHRASES.get(kind, f"is invalid ({first['msg']})")
    return f"{source}: {path} {phrase}" if path else f"{source}: {phrase}"


def _alias(loc: list[str]) -> list[str]:
    # The model field is memory_bytes; the file says memory.
    if len(loc) == 3 and loc[0] == "resources" and loc[2] == "memory_bytes":
        return [loc[0], loc[1], "memory"]
    return loc


def _known_keys(parent: list[str]) -> str:
    """The keys allowed where an unknown one was found, to help with typos."""
    if not parent:
        keys = list(AppSpec.model_fields)
    elif parent[0] == "build":
        keys = list(BuildSpec.model_fields)
    elif parent[0] == "processes" and len(parent) >= 3 and parent[2] == "healthcheck":
        keys = list(HealthcheckSpec.model_fields)
    elif parent[0] == "processes":
        keys = list(ProcessSpec.model_fields)
    elif parent[0] == "resources":
        keys = ["cpus", "memory", "pids"]
    else:
        return ""
    return f" (known keys: {', '.join(keys)})"


def _short(text: str, limit: int = 60) -> str:
    """User text in a message: bounded, one line, no backticks, invisible characters escaped."""
    return echo(text, limit)
