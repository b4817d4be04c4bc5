#!/usr/bin/env bash
# signage.sh — the comments and man pages name what the code has
# (tests/support/signage.py says what is checked).
set -uo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/support/signage.py .
