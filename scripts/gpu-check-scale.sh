#!/usr/bin/env bash
# GPU checks of issue 14 (scale), for a machine with CUDA. Prints figures; exits non-zero on a
# failed run. Usage: scripts/gpu-check-scale.sh [OUT_DIR]
#  1. bench/unlearn_scale.py: PROD vs GA (bf16 + LoRA + checkpointing, and a full fine-tune) on
#     CPU and CUDA, planner estimate vs torch.cuda.max_memory_allocated.
#  2. with >= 2 GPUs: the same unlearning run in one process, with DDP and with FSDP on 2 GPUs
#     (same global batch); the step losses are printed side by side (expect agreement to bf16
#     rounding; FSDP computes in bf16 weights, so a little looser).
set -euo pipefail
OUT=${1:-/tmp/cub-gpu-check-scale}
mkdir -p "$OUT"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA'; print(torch.cuda.get_device_name(0), torch.cuda.device_count(), 'GPU(s)')"
python bench/unlearn_scale.py --limit 4 --max-length 512 | tee "$OUT/bench.txt"
N=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "$N" -ge 2 ]; then
  COMMON=(unlearn --model smollm2-135m --method prod --task copyright --limit 8 --epochs 2 --lr 1e-5 --max-length 512)
  cub "${COMMON[@]}" --grad-accum 4 --output-dir "$OUT/one"
  cub "${COMMON[@]}" --grad-accum 2 --num-processes 2 --output-dir "$OUT/ddp"
  cub "${COMMON[@]}" --grad-accum 2 --num-processes 2 --accelerate-config configs/accelerate/fsdp.yaml \
      --gradient-checkpointing --output-dir "$OUT/fsdp"
  python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for name in ("one", "ddp", "fsdp"):
    run = json.loads((out / name / "run.json").read_text())
    losses = [round(x, 5) for e in run["epochs"] for x in e["losses"]]
    print(f"{name:5s} {run['distributed']} peak {run['peak_memory_bytes'] / 2**30:.2f} GiB "
          f"(plan {run['memory_plan']['peak_bytes'] / 2**30:.2f}) losses {losses}")
PY
fi
