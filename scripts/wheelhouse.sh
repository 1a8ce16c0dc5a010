#!/usr/bin/env bash
# Wheels of yadockeri and every dependency (and the build backend) into .wheelhouse/, so that
# `docker build` of the yadockeri image needs no network inside the build (see Dockerfile).
# Run on a machine with the same Python minor version as the image's base (3.11) and PyPI access.
#   scripts/wheelhouse.sh [PYTHON]      default: .venv/bin/python, else python3
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
PY=${1:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
BACKEND=$("$PY" -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))')
mkdir -p .wheelhouse
# shellcheck disable=SC2086
"$PY" -m pip wheel -q --disable-pip-version-check --wheel-dir .wheelhouse . $BACKEND
echo "wheelhouse: $(ls .wheelhouse/*.whl | wc -l) wheels in $REPO/.wheelhouse"
