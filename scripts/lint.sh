#!/usr/bin/env bash
# The static checks CI runs before the tests: ruff (rules in pyproject.toml [tool.ruff.lint]) and
# mypy (pyproject.toml [tool.mypy]) over every package, the tests and the benches.
# Needs the test extras (scripts/setup.sh --for test installs them).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
.venv/bin/ruff check .
.venv/bin/mypy
