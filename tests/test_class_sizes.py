"""No class over 250 lines (from its `class` line to its last line) in the code, the tests or the
benches: a class that big holds several things that change for different reasons; split it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("stacks", "bot", "yadockeri", "api", "tests", "bench")
MAX_LINES = 250
ALLOWED: set[tuple[str, str]] = set()  # (module, class) allowed over the limit: none


def class_sizes(path: Path) -> list[tuple[str, int]]:
    """(name, lines) of every class in the module, nested ones too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [(node.name, node.end_lineno - node.lineno + 1)
            for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.end_lineno is not None]


def modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_every_package_has_modules_to_check() -> None:
    assert all(any((ROOT / package).rglob("*.py")) for package in PACKAGES)


def test_no_class_is_over_250_lines() -> None:
    too_big = [
        f"{path.relative_to(ROOT)}: class {name} is {lines} lines"
        for path in modules()
        for name, lines in class_sizes(path)
        if lines > MAX_LINES and (path.relative_to(ROOT).as_posix(), name) not in ALLOWED
    ]
    assert not too_big, f"classes over {MAX_LINES} lines (split them by what changes together):\n" + "\n".join(too_big)
