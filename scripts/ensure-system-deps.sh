#!/usr/bin/env bash
# Install the Debian packages the test suite needs (jq for the guide's log queries, PostgreSQL server
# binaries for the persistence tests, chromium for the dashboard test) when they are missing. Needs root
# (or sudo) only if something is missing.
set -euo pipefail

missing=()
command -v jq >/dev/null 2>&1 || missing+=(jq)
pg_bindir=""
if command -v pg_config >/dev/null 2>&1; then pg_bindir=$(pg_config --bindir); fi
if [ ! -x "${pg_bindir}/initdb" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi

command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)

[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing missing system packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "error: missing system packages (${missing[*]}); install them with apt-get as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
