"""The checks of scripts/gpu_check.py that run in one process: the memorising tiny model, hf
backend parity, and one training step of a 7B-shaped Llama against the memory planner.

Each check takes the harness' context dict ({"out", "device", "tiny", ...}) and returns
{"status": "pass" | "fail" | "skipped", "reason": str, "figures": {...}}. Everything goes through
the library's public functions (models.tiny, HFBackend, unlearn.model_setup / distributed / planner);
only the few lines of one optimizer step are written out here, as the trainer's loop does them
(trainer.py has no public single-step function).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

GiB = 1024 ** 3
CONFIG_7B = "tests/fixtures/model_configs/codellama-7b"
# Logit spread of the 7B-shaped model: a random init gives near-uniform logits, so PROD's nucleus
# (p = 0.8) would hold most of the 32k vocabulary; a trained model's holds tens. Scaling the
# output layer to this logit std gives ~64 entries at 32k vocabulary (Gaussian logits), the
# planner's default and a trained model's order of magnitude.
LOGIT_STD = 4.0


def sizes(ctx) -> dict:
    """Shapes for the GPU run and for the CPU dry run (--tiny)."""
    if ctx["tiny"]:
        return {"files": 3, "chars": 300, "hidden": 64, "layers": 2, "vocab": 512, "memorise_steps": 150,
                "new_tokens": 24, "tokens": 128, "steps": 2, "timed_steps": 1}
    return {"files": 8, "chars": 600, "hidden": 128, "layers": 4, "vocab": 1024, "memorise_steps": 600,
            "new_tokens": 64, "tokens": 1024, "steps": 2, "timed_steps": 3}


def verdict(ok: bool, figures: dict, why_not: str, reason: str = "") -> dict:
    return {"status": "pass" if ok else "fail", "reason": reason if ok else why_not, "figures": figures}


# -- the memorising tiny model ---------------------------------------------------------------

def forget_texts(ctx) -> list[str]:
    """The copyright forget set the engine checks train on: the texts the tiny model memorises."""
    from code_unlearn_bench.unlearn.data import load_forget_set

    s = sizes(ctx)
    return [p.answer for p in load_forget_set("copyright", None, {"max_chars": s["chars"]}, s["files"]).pairs]


def build_tiny(ctx) -> dict:
    from code_unlearn_bench.models.tiny import build_tiny_llama, build_tokenizer, save, stdlib_texts, train_memorise

    s = sizes(ctx)
    t0 = time.perf_counter()
    texts = forget_texts(ctx)
    tok = build_tokenizer(texts + stdlib_texts(max_files=30, max_chars=3000), vocab_size=s["vocab"])
    model = build_tiny_llama(tok, hidden=s["hidden"], layers=s["layers"], heads=4)
    losses = train_memorise(model, tok, texts, steps=s["memorise_steps"], max_length=256)
    out = save(model, tok, Path(ctx["out"]) / "tiny", {"final_loss": losses[-1]})
    # held-out text for NLL parity: standard-library files outside the tokenizer's corpus
    heldout = [t[:s["chars"]] for t in stdlib_texts(max_files=60, max_chars=s["chars"])[40:40 + s["files"]]]
    (out / "gpu_check_texts.json").write_text(json.dumps({"memorised": texts, "heldout": heldout}))
    final = sum(losses[-len(texts):]) / len(texts)
    figures = {"final_loss": round(final, 4), "params": sum(p.numel() for p in model.parameters()),
               "train_s": round(time.perf_counter() - t0, 1)}
    return verdict(final < 1.0, figures, f"did not memorise: mean loss of the last pass {final:.3f} >= 1.0")


# -- hf backend: GPU bf16 vs CPU fp32 -------------------------------------------------------

def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _nll(backend, pairs) -> float:
    lls = backend.loglikelihood(pairs, batch_size=8)
    return -sum(sum(x) for x in lls) / max(1, sum(len(x) for x in lls))


def hf_parity(ctx) -> dict:
    from code_unlearn_bench.models.base import GenerationSettings
    from code_unlearn_bench.models.hf import HFBackend

    tiny = Path(ctx["out"]) / "tiny"
    texts = json.loads((tiny / "gpu_check_texts.json").read_text())
    # the dry run's "GPU" side is bf16 on the CPU: the same code, only the device differs
    fast = HFBackend(str(tiny), dtype="bfloat16", device=ctx["device"])
    ref = HFBackend(str(tiny), dtype="float32", device="cpu")
    prompts = [t[:len(t) * 2 // 5] for t in texts["memorised"]]
    settings = GenerationSettings(max_new_tokens=sizes(ctx)["new_tokens"])
    got, want = fast.generate(prompts, settings), ref.generate(prompts, settings)
    ids = lambda text: ref.tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    agree = sum(_common_prefix(ids(a), ids(b)) for a, b in zip(got, want)) / max(1, sum(len(ids(b)) for b in want))
    figures = {"tokens_agree": round(agree, 4)}
    ok = agree >= 0.9
    for name, corpus in texts.items():
        pairs = [(t[:len(t) * 2 // 5], t[len(t) * 2 // 5:]) for t in corpus]
        a, b = _nll(fast, pairs), _nll(ref, pairs)
        figures[f"nll_{name}_bf16"], figures[f"nll_{name}_fp32"] = round(a, 4), round(b, 4)
        ok = ok and abs(a - b) <= max(0.02, 0.02 * abs(b))
    return verdict(ok, figures, "greedy tokens or NLL outside the tolerance (figures)")


# -- one step of a 7B-shaped Llama against the planner ---------------------------------------

def big_config(ctx, layers: int | None = None):
    from code_unlearn_bench.unlearn.shapes import load_config

    cfg = load_config(str(Path(ctx["repo"]) / CONFIG_7B))
    if ctx["tiny"]:  # the 7B config's structure, small enough for 2 CPU cores; the vocabulary cut
        # too, so that the layers hold most parameters, as in the 7B (embeddings: 4%)
        cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads, cfg.num_key_value_heads = 256, 688, 4, 4
        cfg.num_hidden_layers, cfg.vocab_size = 4, 2048
    if layers:
        cfg.num_hidden_layers = layers
    return cfg


class Run:
    """A model built on the device, prepared as the trainer prepares it, and its frozen state."""

    def __init__(self, ctx, method_name: str, lora: bool, checkpointing: bool, config):
        import torch
        from transformers import AutoModelForCausalLM

        from code_unlearn_bench.models.base import ModelInfo
        from code_unlearn_bench.unlearn import distributed as dist
        from code_unlearn_bench.unlearn import model_setup as prepare
        from code_unlearn_bench.unlearn.data import Example
        from code_unlearn_bench.unlearn.methods import get_method
        from code_unlearn_bench.config import TrainConfig

        s = sizes(ctx)
        self.device = ctx["device"]
        self.cfg = TrainConfig(model=CONFIG_7B, task="copyright", output_dir=ctx["out"], method=method_name, lr=1e-5,
                               grad_accum=1, max_length=s["tokens"], lora=lora, gradient_checkpointing=checkpointing,
                               precision="bf16", device=self.device)
        self.method = get_method(method_name)()
        # as the trainer loads: a LoRA base in bf16, a full fine-tune's fp32 master weights
        dtype = torch.bfloat16 if lora else torch.float32
        # what an earlier run in this process left allocated is not this run's (prod-vs-ga builds two)
        self.baseline = torch.cuda.memory_allocated() if self.device == "cuda" else 0
        t0 = time.perf_counter()
        torch.manual_seed(0)  # the same random model on every run: comparable figures
        with torch.device(self.device):
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        with torch.no_grad():
            model.get_output_embeddings().weight.mul_(LOGIT_STD / (config.initializer_range * config.hidden_size ** 0.5))
        self.build_s = time.perf_counter() - t0
        info = ModelInfo(spec=CONFIG_7B, path=CONFIG_7B, name="codellama-7b-shaped", format="hf", fingerprint="random")
        self.acc, self.precision = dist.make_accelerator(self.device, "bf16", 1)
        model = prepare.prepare_model(model, self.cfg, info)
        self.method.select_trainable(model)
        optimizer = prepare.make_optimizer(model, self.cfg)
        self.model, self.optimizer = self.acc.prepare(model, optimizer)
        gen = torch.Generator().manual_seed(0)
        self.examples = [Example(f"x{i}", {"forget": (torch.randint(3, config.vocab_size, (s["tokens"],),
                                                                    generator=gen).tolist(), 1)})
                         for i in range(2)]
        self.probe = self._start_probe()
        self.states = prepare.precompute(self.method, self.model, self.examples, 0, self.acc, lambda _m: None)

    def _start_probe(self):
        """Peak from here on: CUDA's allocator on a GPU, live tensor bytes on the CPU."""
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return None
        from code_unlearn_bench.unlearn.memtrack import LiveTensorPeak, optimizer_tensors

        probe = LiveTensorPeak("cpu")
        probe.track(list(self.model.parameters()) + list(self.model.buffers()) + optimizer_tensors(self.optimizer))
        probe.__enter__()
        return probe

    def peak(self) -> int:
        import torch

        if self.probe is not None:
            return self.probe.peak
        return int(torch.cuda.max_memory_allocated()) - self.baseline

    def entries(self) -> int:
        """PROD's real nucleus entries per position (the planner's prod_entries)."""
        if not self.states:
            return 64
        return max(1, round(sum(int(s["count"].sum()) for s in self.states) / sum(len(s["count"]) for s in self.states)))

    def step(self, k: int) -> float:
        """One optimizer step on example k (as trainer._train_epoch does it); its loss."""
        from code_unlearn_bench.unlearn.data import collate

        ex = self.examples[k % len(self.examples)]
        seqs = {n: v.to(self.acc.device) for n, v in collate([ex], 0).items()}
        state = self.method.collate_state([self.states[k % len(self.states)]]) if self.states else {}
        state = {n: v.to(self.acc.device) for n, v in state.items()}
        with self.acc.autocast():
            loss = self.method.loss(self.model, seqs, state)
        self.acc.backward(loss)
        self.acc.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()

    def close(self) -> None:
        import gc

        import torch

        if self.probe is not None:
            self.probe.__exit__(None, None, None)
        self.model = self.optimizer = self.states = None
        self.acc.free_memory()  # accelerate holds the prepared model and optimizer too
        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()


def planned(ctx, config, method: str, lora: bool, checkpointing: bool, entries: int = 64):
    from code_unlearn_bench.unlearn.budget import make_request
    from code_unlearn_bench.unlearn.planner import plan
    from code_unlearn_bench.unlearn.shapes import shape_from_config
    from code_unlearn_bench.config import TrainConfig

    cfg = TrainConfig(model=CONFIG_7B, task="copyright", output_dir=ctx["out"], grad_accum=1,
                      max_length=sizes(ctx)["tokens"], lora=lora, gradient_checkpointing=checkpointing)
    device = "cuda" if ctx["device"] == "cuda" else "cpu"
    req = replace(make_request(cfg, method, "bf16", "single", 1, device, device_memory(ctx)), prod_entries=entries)
    return plan(shape_from_config(config), req)


def device_memory(ctx) -> int | None:
    import torch

    return torch.cuda.get_device_properties(0).total_memory if ctx["device"] == "cuda" else None


def fitting_config(ctx, method: str, lora: bool, checkpointing: bool):
    """The 7B config, with fewer layers if the plan says the 32 do not fit this GPU (9/10 of it)."""
    config = big_config(ctx)
    budget = device_memory(ctx)
    full = planned(ctx, config, method, lora, checkpointing)
    note = {}
    layers = config.num_hidden_layers
    while budget and layers > 4 and planned(ctx, big_config(ctx, layers), method, lora, checkpointing).peak > 0.9 * budget:
        layers -= 4
    if layers != config.num_hidden_layers:
        note = {"layers": f"{layers} of {config.num_hidden_layers}",
                "plan_all_layers_GiB": round(full.peak / GiB, 2)}
    return big_config(ctx, layers), note


def plan_step(ctx, method: str, lora: bool, checkpointing: bool) -> dict:
    import torch

    from code_unlearn_bench.unlearn.planner import GPU_RESERVE

    config, note = fitting_config(ctx, method, lora, checkpointing)
    first = planned(ctx, config, method, lora, checkpointing)
    try:
        run = Run(ctx, method, lora, checkpointing, config)
        for k in range(sizes(ctx)["steps"]):
            run.step(k)
    except torch.OutOfMemoryError as exc:
        return {"status": "fail", "figures": {**note, "plan_GiB": round(first.peak / GiB, 2)},
                "reason": f"out of memory although the plan said {first.peak / GiB:.1f} GiB "
                          f"{'fits' if first.fits else 'does not fit'}: {str(exc).splitlines()[0][:160]}"}
    plan_ = planned(ctx, config, method, lora, checkpointing, run.entries())
    tensors = plan_.peak - (GPU_RESERVE if ctx["device"] == "cuda" else 0)
    measured = run.peak()
    ratio = measured / tensors
    figures = {**note, "measured_GiB": round(measured / GiB, 3), "plan_GiB": round(plan_.peak / GiB, 3),
               "plan_tensors_GiB": round(tensors / GiB, 3), "ratio": round(ratio, 3),
               "nucleus": run.entries(), "build_s": round(run.build_s, 1)}
    if ctx["device"] == "cuda":
        figures["reserved_GiB"] = round(torch.cuda.max_memory_reserved() / GiB, 3)
    run.close()
    (Path(ctx["out"]) / f"{ctx['name']}.plan.txt").write_text(plan_.format())
    return verdict(0.9 <= ratio <= 1.1, figures, f"measured peak is {ratio:.3f}x the plan's tensors (target 0.9-1.1)")


def step_full(ctx) -> dict:
    return plan_step(ctx, "prod", lora=False, checkpointing=False)


def step_lora(ctx) -> dict:
    return plan_step(ctx, "prod", lora=True, checkpointing=True)


def prod_vs_ga(ctx) -> dict:
    """The paper's claim on the hardware it is for: PROD needs no second model, so a step costs
    what a GA step costs, in time and in memory."""
    import torch

    s = sizes(ctx)
    config = big_config(ctx)
    figures = {}
    for method in ("ga", "prod"):
        run = Run(ctx, method, True, True, config)
        run.step(0)  # warm-up: kernels, the optimizer state
        if ctx["device"] == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for k in range(1, 1 + s["timed_steps"]):
            run.step(k)
        if ctx["device"] == "cuda":
            torch.cuda.synchronize()
        figures[f"{method}_step_s"] = round((time.perf_counter() - t0) / s["timed_steps"], 4)
        figures[f"{method}_peak_GiB"] = round(run.peak() / GiB, 3)
        run.close()
    time_x = figures["prod_step_s"] / figures["ga_step_s"]
    mem_x = figures["prod_peak_GiB"] / figures["ga_peak_GiB"]
    figures.update(time_x=round(time_x, 3), memory_x=round(mem_x, 3))
    judged_time = ctx["device"] == "cuda"  # CPU step times on a shared machine are noise
    ok = mem_x <= 1.1 and (time_x <= 1.1 or not judged_time)
    return verdict(ok, figures, f"PROD/GA: time {time_x:.2f}x, memory {mem_x:.2f}x (target <= 1.1x)",
                   "" if judged_time else "step time not judged on CPU")
