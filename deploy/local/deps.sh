#!/usr/bin/env bash
# Makes sure the servers the project runs against are installed: PostgreSQL
# (server binaries) and nats-server. On Debian/Ubuntu it installs what is
# missing; elsewhere it says in one line what to install. Installing starts
# nothing: `make run` and `make test` start their own servers.
set -euo pipefail

have_postgres() {
  [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ] && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1
}
have_nats() {
  command -v "${NATS_SERVER:-nats-server}" >/dev/null 2>&1
}

missing=()
have_postgres || missing+=(postgresql)
have_nats || missing+=(nats-server)
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's postgresql package may start a cluster of its own; ours do not need it.
else
  echo "please install: ${missing[*]} (PostgreSQL 15+ server binaries and nats-server 2.9+ with JetStream)" >&2
  exit 1
fi
