#!/usr/bin/env bash
# Install and start what yadockeri needs on one Debian 12 machine (root, no systemd,
# no container registry; see shared/ENVIRONMENT.md):
#   Debian packages -> dockerd -> one-node swarm -> offline base images -> .venv
#   and, for tests, PostgreSQL with the yadockeri_test database.
#
#   scripts/setup.sh --for test   everything the test suite needs (the default)
#   scripts/setup.sh --for run    only what `yadockeri up` needs
#
# Idempotent: every step first checks whether its work is already done and skips it.
# It never restarts a running dockerd and never touches a swarm that is already active.
# dockerd and PostgreSQL keep running after the script ends.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE="test"
TEST_DB_URL=postgresql://yadockeri:yadockeri@127.0.0.1:5432/yadockeri_test
# Multi-node tests make their own separate swarm on 10.77.0.0/24 (tests/support/multinode/);
# earlier versions of this script put 10.77.0.1 on this veth pair for them.
LEGACY_VETH=yd-veth0
MULTINODE_PREFIX=10.77.0.
DOCKERD_LOG=/var/log/dockerd.log
LOCK_FILE=/run/lock/yadockeri-setup.lock

log() { echo "yadockeri setup: $*"; }
die() { echo "yadockeri setup: ERROR: $*" >&2; exit 1; }

usage() {
  sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

while [ $# -gt 0 ]; do
  case $1 in
    --for) [ $# -ge 2 ] || die "--for needs 'test' or 'run'"; MODE=$2; shift 2 ;;
    --for=*) MODE=${1#--for=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
case $MODE in test|run) ;; *) die "--for must be 'test' or 'run', not '$MODE'" ;; esac
[ "$(id -u)" = 0 ] || die "run me as root (apt-get, dockerd, ip link)"

# Time each step: `step NAME FUNCTION` prints how long it took.
step() {
  local name=$1 start=$SECONDS; shift
  "$@"
  log "$name done ($((SECONDS - start))s)"
}

# (Not `dpkg -s | grep -q`: with pipefail, grep quitting early can fail the pipeline.)
have_pkg() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# --- Debian packages ---------------------------------------------------------------
install_packages() {
  local wanted=(docker.io busybox-static nginx-light git iproute2 openssl ca-certificates)
  if [ "$MODE" = test ]; then
    wanted+=(postgresql docker-registry debootstrap)
  fi
  # The venv needs ensurepip; Debian's own python3 has it only with python3-venv.
  if command -v python3 >/dev/null && ! python3 -c 'import ensurepip' 2>/dev/null; then
    wanted+=(python3-venv)
  fi
  local missing=() p
  for p in "${wanted[@]}"; do have_pkg "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then
    log "Debian packages already installed"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  # No systemd here, and nothing should start on install (nginx would take port 80;
  # we start dockerd and PostgreSQL ourselves): forbid service starts for this apt run
  # unless the machine already does.
  local own_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  local rc=0
  # DPkg::Lock::Timeout: wait for another apt/dpkg run on this machine instead of failing.
  {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "${missing[@]}"
  } >/tmp/yadockeri-apt.log 2>&1 || rc=$?
  [ -z "$own_policy" ] || rm -f /usr/sbin/policy-rc.d
  if [ $rc -ne 0 ]; then
    tail -n 30 /tmp/yadockeri-apt.log >&2 || true
    die "apt-get failed (exit $rc); full log in /tmp/yadockeri-apt.log"
  fi
}

# --- the veth pair earlier versions made (multi-node tests now make their own network) ---
remove_legacy_veth() {
  ip link show "$LEGACY_VETH" >/dev/null 2>&1 || return 0
  if grep -qs "\"AdvertiseAddr\":\"${MULTINODE_PREFIX}1:" /var/lib/docker/swarm/docker-state.json; then
    log "note: this swarm advertises ${MULTINODE_PREFIX}1 (on $LEGACY_VETH), which the multi-node tests need" \
        "for their own swarm; keeping $LEGACY_VETH"
    return 0
  fi
  log "removing $LEGACY_VETH (no longer used)"
  ip link del "$LEGACY_VETH"
}

# --- dockerd ---------------------------------------------------------------------
# Every container gets no-new-privileges: swarm services of Docker 20.10 cannot ask for it one
# by one (API 1.46 can), so dockerd sets it for all (docs/security.md). Merged into an existing
# /etc/docker/daemon.json; a dockerd that already runs keeps its old setting until restarted.
DAEMON_JSON=/etc/docker/daemon.json
configure_dockerd() {
  mkdir -p "$(dirname "$DAEMON_JSON")"
  local changed
  changed=$(python3 - "$DAEMON_JSON" <<'PY'
import json, os, sys
path = sys.argv[1]
config = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
if config.get("no-new-privileges") is True:
    print("no")
else:
    config["no-new-privileges"] = True
    with open(path + ".tmp", "w") as handle:
        json.dump(config, handle, indent=2)
    os.replace(path + ".tmp", path)
    print("yes")
PY
)
  if [ "$changed" = yes ] && docker_up; then
    log "note: $DAEMON_JSON now sets no-new-privileges; the running dockerd applies it after a restart"
  fi
}

docker_up() { [ -n "$(timeout 15 docker info --format '{{.ServerVersion}}' 2>/dev/null)" ]; }

start_dockerd() {
  if docker_up; then
    log "dockerd already running ($(timeout 15 docker info --format '{{.ServerVersion}}'))"
    return
  fi
  command -v dockerd >/dev/null || die "dockerd not found (is docker.io installed?)"
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    log "dockerd (pid $pid) exists but does not answer yet; waiting for it"
  else
    log "starting dockerd (log: $DOCKERD_LOG)..."
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    echo "=== yadockeri setup: dockerd started $(date -u +%FT%TZ)" >>"$DOCKERD_LOG"
    # setsid -f: its own session, so it outlives this script and its terminal.
    # 9>&-: do not hand it our lock.
    (cd / && setsid -f nohup dockerd -H unix:///var/run/docker.sock \
      </dev/null >>"$DOCKERD_LOG" 2>&1 9>&-)
  fi
  local i
  for i in $(seq 60); do
    if docker_up; then
      log "dockerd is up after ${i}s"
      return
    fi
    sleep 1
  done
  echo "--- last lines of $DOCKERD_LOG:" >&2
  tail -n 30 "$DOCKERD_LOG" >&2 || true
  die "dockerd did not answer 'docker info' within 60 s"
}

# --- swarm -------------------------------------------------------------------------
swarm_state() { timeout 15 docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }

default_route_addr() {
  local dev addr
  dev=$(ip -4 route show default 2>/dev/null |
        awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
  if [ -n "$dev" ]; then
    addr=$(ip -4 -o addr show dev "$dev" scope global 2>/dev/null |
           awk '{split($4, a, "/"); print a[1]; exit}')
  fi
  echo "${addr:-127.0.0.1}"
}

setup_swarm() {
  local state i
  state=$(swarm_state)
  # After a dockerd start, a node that was in a swarm is 'pending' for a moment.
  for i in $(seq 30); do
    [ "$state" = pending ] || break
    sleep 1
    state=$(swarm_state)
  done
  case $state in
    active)
      [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] ||
        die "this node is in a swarm but is not a manager; yadockeri must run on a manager"
      local addr
      addr=$(docker info --format '{{.Swarm.NodeAddr}}')
      log "swarm already active (node address $addr); leaving it as it is"
      if [ "$MODE" = test ] && [[ "$addr" == "$MULTINODE_PREFIX"* ]]; then
        log "note: the swarm advertises $addr: the multi-node tests need ${MULTINODE_PREFIX}0/24 for" \
            "their own swarm ('docker swarm leave --force', then run me again)"
      fi
      ;;
    inactive)
      local addr
      addr=$(default_route_addr)
      log "creating a one-node swarm (--advertise-addr $addr)..."
      docker swarm init --advertise-addr "$addr" >/dev/null
      ;;
    locked) die "the swarm is locked: unlock it with 'docker swarm unlock'" ;;
    *) die "swarm state is '$state'; see 'docker info' and $DOCKERD_LOG" ;;
  esac
}

# --- offline base images ----------------------------------------------------------
build_images() {
  "$REPO/scripts/offline-images.sh" | sed 's/^/yadockeri setup: /'
}

# --- Python venv --------------------------------------------------------------------
setup_venv() {
  local venv=$REPO/.venv spec hash marker
  if [ "$MODE" = test ]; then spec='.[test]'; else spec='.'; fi
  if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    log "$venv is broken (its python does not run); making it again"
    rm -rf "$venv"
  fi
  if [ ! -x "$venv/bin/python" ]; then
    local py=${PYTHON:-python3}
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
      die "$py is $("$py" --version 2>&1); yadockeri needs Python 3.11 or newer (set PYTHON=...)"
    log "creating $venv with $("$py" --version 2>&1)..."
    "$py" -m venv "$venv"
  fi
  # The marker names what was installed: pyproject.toml's content, the extras, the
  # interpreter. A test install also satisfies a run install.
  marker_for() {
    printf '%s\n%s\n' "$1" "$("$venv/bin/python" -V 2>&1)" | cat - "$REPO/pyproject.toml" |
      sha256sum | cut -c1-16
  }
  hash=$(marker_for "$spec")
  marker=$venv/.installed-$hash
  if [ -e "$marker" ] || { [ "$MODE" = run ] && [ -e "$venv/.installed-$(marker_for '.[test]')" ]; }; then
    log "venv up to date ($venv)"
  else
    log "pip install -e '$spec' into $venv..."
    (cd "$REPO" && "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$spec")
    rm -f "$venv"/.installed-*
    : >"$marker"
  fi
  # Byte-compile yadockeri's own modules: where PYTHONDONTWRITEBYTECODE is set (as on these
  # machines) nothing else does, and every `yadockeri` command would compile them again.
  (cd "$REPO" && "$venv/bin/python" -m compileall -q -j 0 stacks bot yadockeri migrations >/dev/null) || true
}

# --- PostgreSQL (tests) -------------------------------------------------------------
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

start_postgres() {
  local line ver name port status
  line=$(pg_lsclusters -h 2>/dev/null | head -n1 || true)
  if [ -z "$line" ]; then
    ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf "%f\n" 2>/dev/null | sort -n | tail -n1 || true)
    [ -n "$ver" ] || die "no PostgreSQL server installed in /usr/lib/postgresql"
    log "creating PostgreSQL cluster $ver/main..."
    pg_createcluster "$ver" main >/dev/null
    line=$(pg_lsclusters -h | head -n1)
  fi
  read -r ver name port status _ <<<"$line"
  [ "$port" = 5432 ] || die "PostgreSQL cluster $ver/$name listens on port $port, tests expect 5432"
  if [ "$status" = online ]; then
    log "PostgreSQL $ver/$name already running"
  else
    log "starting PostgreSQL $ver/$name..."
    pg_ctlcluster "$ver" "$name" start 9>&-
  fi
  local i
  for i in $(seq 30); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 1
  done
  pg_isready -q -h 127.0.0.1 -p "$port" ||
    die "PostgreSQL does not accept connections on 127.0.0.1:$port (see /var/log/postgresql/)"

  if psql "$TEST_DB_URL" -qtAc 'select 1' >/dev/null 2>&1; then
    log "database yadockeri_test reachable"
    return
  fi
  if [ -z "$(as_postgres psql -qtAc "select 1 from pg_roles where rolname = 'yadockeri'")" ]; then
    log "creating role yadockeri"
    as_postgres psql -qc "create role yadockeri login createdb password 'yadockeri'"
  else
    as_postgres psql -qc "alter role yadockeri login password 'yadockeri'"
  fi
  if [ -z "$(as_postgres psql -qtAc "select 1 from pg_database where datname = 'yadockeri_test'")" ]; then
    log "creating database yadockeri_test"
    as_postgres createdb -O yadockeri yadockeri_test
  fi
  psql "$TEST_DB_URL" -qtAc 'select 1' >/dev/null ||
    die "cannot connect to $TEST_DB_URL"
}

# --- main -----------------------------------------------------------------------------
main() {
  local start=$SECONDS
  log "starting (--for $MODE)"
  step "packages" install_packages
  step "legacy veth" remove_legacy_veth
  step "dockerd config" configure_dockerd
  step "dockerd" start_dockerd
  step "swarm" setup_swarm
  step "offline images" build_images
  step "venv" setup_venv
  if [ "$MODE" = test ]; then
    step "postgres" start_postgres
    echo "YADOCKERI_TEST_POSTGRES_URL=$TEST_DB_URL"
  fi
  log "ready (--for $MODE, $((SECONDS - start))s)"
}

# One setup at a time on this machine (two test runs started together would both try
# to install packages and start dockerd).
mkdir -p "$(dirname "$LOCK_FILE")"
exec 9>"$LOCK_FILE"
if ! flock -n 9; then
  log "another setup is running; waiting for it"
  flock 9
fi
main
