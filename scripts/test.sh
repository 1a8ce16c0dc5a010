#!/usr/bin/env bash
# THE test command: installs and starts what the tests need (scripts/setup.sh --for test:
# dockerd, a swarm, offline images, .venv, PostgreSQL), then runs pytest.
#   scripts/test.sh                      the whole suite
#   scripts/test.sh tests/test_names.py  pytest arguments are passed on
# Works from any working directory.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

scripts/setup.sh --for test

export YADOCKERI_TEST_POSTGRES_URL=${YADOCKERI_TEST_POSTGRES_URL:-postgresql://yadockeri:yadockeri@127.0.0.1:5432/yadockeri_test}
echo "yadockeri test: YADOCKERI_TEST_POSTGRES_URL=$YADOCKERI_TEST_POSTGRES_URL"
exec .venv/bin/pytest -q -ra -p no:cacheprovider "$@"
