#!/usr/bin/env bash
# deps.sh — `make deps`: install what is missing from Debian's packages; a no-op when present.
set -euo pipefail
want=(build-essential pkg-config libzmq3-dev libczmq-dev libpq-dev libjansson-dev libsystemd-dev
      postgresql postgresql-client clang libclang-rt-14-dev jq systemd locales python3)
# divert-web (libmicrohttpd links GnuTLS for HTTPS) and its browser tests
want+=(libmicrohttpd-dev libsodium-dev chromium chromium-driver python3-selenium)
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "make deps: installing ${missing[*]}"
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
