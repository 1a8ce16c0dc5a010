#!/usr/bin/env bash
# THE run command: installs and starts what yadockeri needs (scripts/setup.sh --for run:
# dockerd, a swarm, offline images, .venv), then runs `yadockeri up` in the foreground
# (router, example app, then yadockeri itself). Arguments are passed on to `yadockeri up`.
# Works from any working directory.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

scripts/setup.sh --for run

# No registry here: build the router from the nginx image made offline unless the
# real one is at hand or the caller chose a base image.
if [ -z "${YADOCKERI_ROUTER_BASE_IMAGE:-}" ] &&
   ! docker image inspect nginx:stable-alpine >/dev/null 2>&1; then
  export YADOCKERI_ROUTER_BASE_IMAGE=yadockeri/nginx-base:local
  echo "yadockeri up: nginx:stable-alpine not here; YADOCKERI_ROUTER_BASE_IMAGE=$YADOCKERI_ROUTER_BASE_IMAGE"
fi
exec .venv/bin/yadockeri up "$@"
