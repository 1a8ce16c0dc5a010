#!/bin/bash
# The official postgres image's entrypoint, in short: started as root, it makes the data folder
# the postgres user's and steps down to that user (setpriv: needs only CAP_CHOWN, CAP_SETUID and
# CAP_SETGID, which yadockeri's tasks keep); as postgres, on an empty data folder, it runs initdb
# with POSTGRES_USER / POSTGRES_PASSWORD, creates POSTGRES_DB, lets every address connect with a
# password (scram-sha-256), then runs the server. No /docker-entrypoint-initdb.d scripts.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
	exec "$@"
fi

if [ "$(id -u)" = '0' ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	chmod 2775 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo 'error: the database is uninitialized and POSTGRES_PASSWORD is not set' >&2
		exit 1
	fi
	POSTGRES_USER="${POSTGRES_USER:-postgres}"
	POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
	pwfile="$(mktemp)"
	printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
		--encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
	rm -f "$pwfile"
	printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
	printf '\nhost all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
	if [ "$POSTGRES_DB" != 'postgres' ]; then
		# Single-user mode: no server listens yet, so a health check cannot pass before this is done.
		printf 'CREATE DATABASE "%s";\n' "${POSTGRES_DB//\"/\"\"}" | postgres --single -D "$PGDATA" postgres >/dev/null
	fi
	echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"
