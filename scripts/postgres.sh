#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A throwaway PostgreSQL server for durable's tests and benchmarks, listening only on a unix
# socket in its own directory (no TCP port, so it never clashes with another server):
#
#   scripts/postgres.sh start DIR [tests|bench]   initdb into DIR/data, start, write DIR/env
#   scripts/postgres.sh stop DIR                  stop the server and remove DIR
#
# DIR/env holds the variables the tests read (source it):
#   DURABLE_TEST_POSTGRES   the connection string, e.g. "host=DIR dbname=postgres user=postgres"
#   DURABLE_TEST_PG_CTL     a pg_ctl command for this server (run as the postgres user if needed)
#   DURABLE_TEST_PGDATA     the data directory, for `pg_ctl restart -D ...`
#
# Settings: "tests" (the default) turns fsync off: the tests check what a server restart and
# killed clients do, not power loss, and fsync would only slow them on a shared machine.
# "bench" keeps the server's durable defaults (fsync on, synchronous_commit on).
# PostgreSQL refuses to run as root: when run as root, DIR is given to the `postgres` user
# (created by Debian's postgresql package) and the server runs as that user.
set -euo pipefail

usage() { echo "usage: $0 start DIR [tests|bench] | stop DIR" >&2; exit 2; }
(($# >= 2)) || usage
command=$1 dir=$2 profile=${3:-tests}

pg_bin() {
  local bin
  for bin in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    [[ -x $bin/initdb && -x $bin/pg_ctl ]] && { echo "$bin"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  echo "postgres.sh: no PostgreSQL server binaries (initdb, pg_ctl) found; install" \
    "postgresql-15 (scripts/install-deps.sh test)" >&2
  return 1
}

# Runs a server binary as the user owning the cluster.
as_owner() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$command" in
  start)
    bin=$(pg_bin)
    mkdir -p "$dir"
    if ((EUID == 0)); then chown postgres:postgres "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    settings=(-c "listen_addresses=" -c "unix_socket_directories=$dir" -c max_connections=200)
    if [[ $profile == tests ]]; then
      settings+=(-c fsync=off -c full_page_writes=off)
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 \
      -o "${settings[*]}" start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    cat >"$dir/pg_ctl" <<SH
#!/usr/bin/env bash
# pg_ctl for the server in $dir, as the user that owns it.
if ((EUID == 0)); then exec runuser -u postgres -- "$bin/pg_ctl" "\$@"; fi
exec "$bin/pg_ctl" "\$@"
SH
    chmod 755 "$dir/pg_ctl"
    cat >"$dir/env" <<ENV
export DURABLE_TEST_POSTGRES='host=$dir dbname=postgres user=postgres'
export DURABLE_TEST_PG_CTL='$dir/pg_ctl'
export DURABLE_TEST_PGDATA='$dir/data'
ENV
    echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') running in $dir"
    ;;
  stop)
    if [[ -f $dir/data/postmaster.pid ]]; then
      bin=$(pg_bin)
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *) usage ;;
esac
