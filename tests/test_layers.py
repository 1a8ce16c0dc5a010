"""Who may import whom (docs/ARCHITECTURE.md), checked on the source:

- only stacks/docker_adapter/ imports the docker SDK or runs the docker CLI;
- bot/ (the Slack front end) and api/ (the HTTP API) never reach Docker, api/ never imports Slack,
  and stacks/ never imports Slack or a front end;
- the adapter depends on nothing of the engine above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADAPTER = ROOT / "stacks" / "docker_adapter"
PRODUCT = [ROOT / "stacks", ROOT / "bot", ROOT / "yadockeri", ROOT / "api"]
# What the adapter may use from the engine's package: leaf modules that import nothing above them.
ADAPTER_MAY_USE = {"stacks.errors", "stacks.limits", "stacks.config"}


def modules(*folders: Path) -> list[Path]:
    return sorted(path for folder in folders for path in folder.rglob("*.py") if "__pycache__" not in path.parts)


def dotted(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module a file imports, absolute (relative imports resolved), TYPE_CHECKING ones too."""
    package = dotted(path) if path.name == "__init__.py" else dotted(path).rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def runs_docker_cli(path: Path) -> list[int]:
    """Lines where a list or call starts with the string "docker" (an argv for the CLI)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        first: ast.expr | None = None
        if isinstance(node, ast.List | ast.Tuple) and node.elts:
            first = node.elts[0]
        elif isinstance(node, ast.Call) and node.args and getattr(node.func, "attr", getattr(node.func, "id", "")) == "which":
            first = node.args[0]
        if isinstance(first, ast.Constant) and first.value == "docker":
            lines.append(first.lineno)
    return lines


def is_docker(module: str) -> bool:
    return module == "docker" or module.startswith("docker.")


def test_only_the_adapter_imports_docker() -> None:
    outside = [p for p in modules(*PRODUCT) if ADAPTER not in p.parents]
    offenders = {dotted(p): sorted(filter(is_docker, imports(p))) for p in outside}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_only_the_adapter_runs_the_docker_cli() -> None:
    outside = [p for p in modules(*PRODUCT) if ADAPTER not in p.parents]
    assert {dotted(p): runs_docker_cli(p) for p in outside if runs_docker_cli(p)} == {}
    assert runs_docker_cli(ADAPTER / "cli.py"), "the check must see the adapter's own use of the CLI"


def test_the_adapter_needs_nothing_above_it() -> None:
    used = {m for p in modules(ADAPTER) for m in imports(p) if m.startswith("stacks.")}
    above = {m for m in used if not m.startswith("stacks.docker_adapter") and m.rsplit(".", 1)[0] not in ADAPTER_MAY_USE
             and m not in ADAPTER_MAY_USE}
    assert above == set()


def test_the_front_ends_never_reach_docker_and_the_engine_never_imports_slack() -> None:
    fronts = {dotted(p): sorted(m for m in imports(p) if m.startswith(("stacks.docker_adapter", "docker")))
              for p in modules(ROOT / "bot", ROOT / "api")}
    assert {name: found for name, found in fronts.items() if found} == {}
    api = {dotted(p): sorted(m for m in imports(p) if m.startswith(("slack_sdk", "slack_bolt", "bot.")))
           for p in modules(ROOT / "api")}
    assert {name: found for name, found in api.items() if found} == {}
    slack = {dotted(p): sorted(m for m in imports(p) if m.startswith(("slack_sdk", "slack_bolt", "bot", "api.", "fastapi")))
             for p in modules(ROOT / "stacks")}
    assert {name: found for name, found in slack.items() if found} == {}


def test_the_import_check_sees_what_it_looks_for() -> None:
    """The checks above would pass on nothing: make sure they find what they look for."""
    sample = ROOT / "stacks" / "docker_adapter" / "images.py"
    assert "docker" in imports(sample)
    assert "stacks.errors.BuildFailed" in imports(sample)  # `from ..errors import BuildFailed`, resolved
