#!/usr/bin/env bash
# The GPU check for the borrowed H200 (one GPU, no internet, no vLLM / model weights / gguf):
# installs the carried wheels, makes the package importable from this working tree, then runs
# scripts/gpu_check.py (every check independent, verdicts in OUT/gpu-check.json, the whole table
# printed at the end). Exit 0 all passed, 1 a check failed, 2 nothing could run.
#
#   bash scripts/gpu-check.sh [OUT_DIR] [gpu_check.py options, e.g. --device cpu --tiny]
#
# Carried wheels: any *.whl in $CUB_WHEELS (default .whl/ in the repo root), installed with
# --no-index --no-deps into a private folder. Commands and carry list: docs/scaling.md.
# No `set -e`: a failing step must never stop the table from being printed.
cd "$(dirname "$0")/.." || exit 2
OUT=${1:-${TMPDIR:-/tmp}/cub-gpu-check}
[ $# -gt 0 ] && shift
mkdir -p "$OUT" || exit 2
WHEELS=${CUB_WHEELS:-.whl}
if compgen -G "$WHEELS/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$OUT/site" "$WHEELS"/*.whl \
    || echo "gpu-check: could not install the wheels in $WHEELS (checks needing them will say so)" >&2
  export PYTHONPATH="$OUT/site${PYTHONPATH:+:$PYTHONPATH}"
fi
# setup.cfg maps analyzers/, tasks/ and leaderboard/ into code_unlearn_bench, which a plain
# PYTHONPATH cannot do: the same mapping as symbolic links (no pip, no build, no network)
# (also when another checkout's install would be imported instead of this working tree)
HERE_PKG=$(cd / && python3 -c "import code_unlearn_bench.tasks, os; print(os.path.realpath(code_unlearn_bench.__file__))" 2>/dev/null)
if [ "$HERE_PKG" != "$(realpath code_unlearn_bench/__init__.py)" ]; then
  SRC="$OUT/src/code_unlearn_bench"
  rm -rf "$OUT/src" && mkdir -p "$SRC" || exit 2
  for f in "$PWD"/code_unlearn_bench/*; do ln -s "$f" "$SRC/"; done
  ln -s "$PWD/analyzers" "$SRC/analyzers"
  ln -s "$PWD/tasks" "$SRC/tasks"
  ln -s "$PWD/leaderboard" "$SRC/leaderboard"
  export PYTHONPATH="$OUT/src${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
python3 scripts/gpu_check.py --out "$OUT" "$@"
