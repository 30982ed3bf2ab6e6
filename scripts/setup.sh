#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine with Node 20 for cgiwire: installs the Debian packages the project and
# its tests need (only those missing; needs root), the npm dependencies, builds the native addon and the
# TypeScript, and the prebuilt binary that `npm pack` ships. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the suite needs, grouped by purpose; add a group's packages here (installed only when
# missing, after one `apt-get update`).
DEB_BUILD=(g++ make python3)                              # node-gyp builds the addon
DEB_FUZZ=(clang libclang-rt-14-dev libfuzzer-14-dev)      # native/fuzz: libFuzzer + ASan/UBSan
DEB_SERVERS=(nginx lighttpd apache2 libapache2-mod-fcgid h2o haproxy caddy php8.2-fpm libfcgi-bin wrk) # integration tests and bench/e2e: real web servers, PHP-FPM, cgi-fcgi, wrk
DEB_PACKAGES=("${DEB_BUILD[@]}" "${DEB_FUZZ[@]}" "${DEB_SERVERS[@]}")

export DEBIAN_FRONTEND=noninteractive
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false npm_config_progress=false
# node-gyp finds Node's headers only via npm's nodedir config; set it for every path that calls node-gyp.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi

started=$SECONDS
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
section() { printf '\n=== %s  [%ds]\n' "$1" $((SECONDS - started)); }
quiet() { # log-name command...: runs the command with its output in a log; shows the log's tail on failure
  local log=$logs/$1 rc=0; shift
  "$@" >"$log" 2>&1 </dev/null || rc=$?
  if [ "$rc" -ne 0 ]; then echo "--- exit $rc, last lines of: $*"; tail -n 30 "$log"; fi
  return "$rc"
}

section "debian packages"
missing=()
# "install ok installed": a package removed but not purged still answers dpkg -s.
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "all present: ${DEB_PACKAGES[*]}"
else
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing: ${missing[*]}"
  for attempt in 1 2 3; do
    if quiet apt-update $SUDO apt-get update -qq; then break; fi
    [ "$attempt" -lt 3 ] || exit 1
    echo "apt-get update failed; retrying"; sleep 5
  done
  # Installing nginx, Apache and lighttpd must not start them as system services: two of them would fight
  # over port 80 and fail the install. The tests start their own instances. policy-rc.d 101 = "do not start".
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [ ! -e "$policy" ] && [ "$(id -u)" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && added_policy=1
  fi
  rc=0
  quiet apt-install $SUDO apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" || rc=$?
  [ "$added_policy" -eq 0 ] || rm -f "$policy"
  [ "$rc" -eq 0 ] || exit "$rc"
  echo "installed"
fi

section "npm ci"
npm_log=npm-ci
if ! quiet npm-ci npm ci; then
  echo "npm ci failed (lock out of step with package.json?); falling back to npm install"
  npm_log=npm-install
  quiet npm-install npm install
fi
grep -E '^(added|up to date|changed)' "$logs/$npm_log" | tail -n 1 || true

section "build (node-gyp + tsc)"
quiet build npm run build
echo "built build/Release/cgiwire.node and dist/"

section "prebuild (prebuildify)"
quiet prebuild npm run prebuildify
echo "built $(ls prebuilds/*/*.node | tr '\n' ' ')"

