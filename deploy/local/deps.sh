#!/usr/bin/env bash
# Makes sure the servers the project runs against are installed: PostgreSQL
# (server binaries) and nats-server; for identity's federation tests,
# Node.js with the independent OpenID Provider (npm `oidc-provider`, pinned
# by its package-lock.json); and for the tests' own Python programs (a real
# SMTP server), a virtual environment in .run/venv with the pinned
# deploy/local/requirements-test.txt; and OpenSSL with its GOST engine, which
# signs and checks ESIA's GOST R 34.10-2012 signatures in the tests (as a
# region's certified tool would in production); and the tools that check
# the Kubernetes manifests offline (.run/k8s-venv from
# deploy/local/requirements-k8s.txt) and the alert rules (promtool, taken
# out of Debian's prometheus package into .run/tools without installing
# it, so no Prometheus server starts). On Debian/Ubuntu it installs what is
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

have_node() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1
}

# The test OpenID Provider's packages, installed once per lock file.
install_oidc_provider() {
  local dir="services/identity/tests/oidc-provider"
  [ -d "$dir" ] || return 0
  if [ ! -f "$dir/node_modules/.package-lock.json" ] \
    || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "installing the test OpenID Provider (npm ci in $dir)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

# OpenSSL that loads the GOST engine (the engine's package name differs
# across releases: libengine-gost-openssl, libengine-gost-openssl1.1).
have_gost() {
  command -v openssl >/dev/null 2>&1 && openssl engine gost >/dev/null 2>&1
}

have_venv() {
  command -v python3 >/dev/null 2>&1 && python3 -c 'import ensurepip, venv' >/dev/null 2>&1
}

# A virtual environment ($1) with the pinned requirements ($2), installed
# once per requirements file; $3 says what it is for.
install_python_env() {
  local venv="$1" requirements="$2" what="$3"
  [ -f "$requirements" ] || return 0
  if [ ! -x "$venv/bin/python" ]; then
    echo "making the $what Python environment ($venv)"
    mkdir -p .run
    python3 -m venv "$venv"
  fi
  if [ ! -f "$venv/installed.txt" ] || ! cmp -s "$requirements" "$venv/installed.txt"; then
    echo "installing the $what ($requirements)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/installed.txt"
  fi
}

# The tests' Python programs; the Kubernetes checks' tools in an
# environment of their own (their dependencies would clash with the
# NetSchool client's pins).
install_test_python() {
  install_python_env .run/venv deploy/local/requirements-test.txt "tests' programs"
}
install_k8s_tools() {
  install_python_env .run/k8s-venv deploy/local/requirements-k8s.txt "Kubernetes checks' tools"
}

# promtool, from Debian's prometheus package unpacked (not installed) into
# .run/tools/prometheus: a static binary, and no server started.
PROMTOOL=".run/tools/prometheus/usr/bin/promtool"
install_promtool() {
  [ -x "$PROMTOOL" ] && return 0
  command -v apt-get >/dev/null 2>&1 || { echo "promtool: not on Debian; install Prometheus's promtool and set ASURSO_PROMTOOL" >&2; return 0; }
  local download
  download="$(mktemp -d)"
  echo "unpacking promtool from Debian's prometheus package into .run/tools"
  (cd "$download" && apt-get download prometheus >/dev/null 2>&1) || {
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    (cd "$download" && apt-get download prometheus >/dev/null)
  }
  mkdir -p .run/tools/prometheus
  dpkg-deb -x "$download"/prometheus_*.deb .run/tools/prometheus
  rm -rf "$download"
}

missing=()
have_postgres || missing+=(postgresql)
have_nats || missing+=(nats-server)
have_node || missing+=(nodejs npm)
have_venv || missing+=(python3 python3-venv)
have_gost || missing+=(openssl libengine-gost-openssl)
if [ ${#missing[@]} -eq 0 ]; then
  install_oidc_provider
  install_test_python
  install_k8s_tools
  install_promtool
  exit 0
fi

if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's postgresql package may start a cluster of its own; ours do not need it.
else
  echo "please install: ${missing[*]} (PostgreSQL 15+ server binaries, nats-server 2.9+ with JetStream, Node.js 20+ with npm, Python 3.9+ with venv, OpenSSL 3 with the GOST engine)" >&2
  exit 1
fi
install_oidc_provider
install_test_python
install_k8s_tools
install_promtool
