"""Step time and peak memory of GA, PROD with precomputed sparse targets (ours), and PROD with a
frozen second model recomputing dense targets every step (the reference implementation).

Same model, same batch (the first --batch-size files of the copyright task, --max-length
tokens), same AdamW settings. Each variant runs in a fresh child process so that its peak memory
is its own: "extra" = peak minus the memory right after the trained model was loaded (optimizer
state, activations, and the sparse targets or the second model). On CPU memory is RSS, on GPU
torch.cuda.max_memory_allocated. Targets: PROD <= 1.1x GA in time and peak memory.
``--baselines`` adds GradDiff, SimNPO and RMU (with the copyright task's retain set) for reference.

    python bench/unlearn_step.py [--model smollm2-135m] [--max-length 256] [--batch-size 1] [--steps 3]
                                 [--rounds 1] [--threads N] [--baselines]

On a shared CPU, load from other processes moves step times by 2x between runs: use --rounds > 1
(the variants run interleaved, the median step time of each is reported) and compare ratios only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

VARIANTS = ("ga", "prod-sparse", "prod-frozen-model")
BASELINES = ("gradiff", "simnpo", "rmu")


def rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def dense_prod_loss(logits, ref_logits, forget_ids, p, alpha):
    """The reference approach: dense targets from the frozen model's logits, every step."""
    import torch

    ref = ref_logits.float()
    rows = torch.arange(ref.shape[0], device=ref.device)
    p_orig = torch.softmax(ref, -1)[rows, forget_ids]
    ref[rows, forget_ids] = float("-inf")
    probs = torch.softmax(ref, -1)
    sorted_p, sorted_idx = probs.sort(-1, descending=True)
    keep_sorted = (sorted_p.cumsum(-1) - sorted_p) < p
    keep_sorted[:, 0] = True
    keep = torch.zeros_like(keep_sorted).scatter(-1, sorted_idx, keep_sorted)
    target = probs * keep
    target = target / target.sum(-1, keepdim=True)
    target[rows, forget_ids] = -alpha * p_orig
    return -(target * torch.log_softmax(logits.float(), -1)).sum(-1).mean()


def child(args) -> dict:
    import copy

    import torch

    from code_unlearn_bench.models.loading import load_model_and_tokenizer
    from code_unlearn_bench.unlearn.data import collate, load_forget_set, tokenise
    from code_unlearn_bench.unlearn.method import Method
    from code_unlearn_bench.unlearn.methods import get_method
    from code_unlearn_bench.unlearn.retain import load_retain_set
    from code_unlearn_bench.unlearn.tokens import answer_logits, forward_logits

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, tok, _ = load_model_and_tokenizer(args.model, device=str(device))
    forget = load_forget_set("copyright", limit=args.batch_size)
    name = "prod" if args.variant.startswith("prod") else args.variant
    method = get_method(name)(**({"p": args.p, "alpha": args.alpha} if name == "prod" else {}))
    retain = load_retain_set(forget).pairs if "retain" in method.sequences else None
    examples = tokenise(forget, tok, args.max_length, method.sequences, retain=retain)
    seqs = {k: v.to(device) for k, v in collate(examples, tok.pad_token_id or 0).items()}
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = rss_bytes()

    setup_t0 = time.perf_counter()
    state, ref_model = {}, None
    if args.variant == "prod-frozen-model":
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    elif type(method).precompute is not Method.precompute:  # PROD's targets, RMU's frozen activations
        model.eval()
        with torch.no_grad():
            state = method.precompute(model, seqs)
        state = {k: v.to(device) for k, v in state.items()}
    setup_s = time.perf_counter() - setup_t0
    targets_bytes = sum(t.numel() * t.element_size() for t in state.values())

    model.train()
    method.select_trainable(model)  # RMU: three MLP output projections only
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6, weight_decay=0.0)
    times = []
    for step in range(args.steps + 1):  # step 0 warms up (allocator, kernels)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        if ref_model is None:
            loss = method.loss(model, seqs, state)
        else:
            seq = seqs["forget"]
            with torch.no_grad():
                ref_logits, _ = answer_logits(forward_logits(ref_model, seq), seq)
            logits, ids = answer_logits(forward_logits(model, seq), seq)
            loss = dense_prod_loss(logits, ref_logits, ids, args.p, args.alpha)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - t0)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated()
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"variant": args.variant, "step_s": sum(times) / len(times), "setup_s": setup_s, "peak": peak,
            "extra": peak - base, "targets_bytes": targets_bytes, "device": str(device),
            "tokens": int(seqs["forget"].target_mask.sum())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--p", type=float, default=0.8)
    parser.add_argument("--alpha", type=float, default=0.0)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repetitions (median is reported)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    parser.add_argument("--baselines", action="store_true", help="also time GradDiff, SimNPO and RMU")
    parser.add_argument("--variant", choices=VARIANTS + BASELINES, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(child(args)))
        return 0
    variants = VARIANTS + (BASELINES if args.baselines else ())
    runs = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            cmd = [sys.executable, __file__, "--variant", variant, "--model", args.model, "--max-length",
                   str(args.max_length), "--batch-size", str(args.batch_size), "--steps", str(args.steps),
                   "--p", str(args.p), "--alpha", str(args.alpha), "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                print(proc.stderr, file=sys.stderr)
                return proc.returncode
            runs[variant].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    # median by step time per variant (memory does not depend on load)
    results = {v: sorted(rs, key=lambda r: r["step_s"])[len(rs) // 2] for v, rs in runs.items()}
    ga = results["ga"]
    mib = 1 << 20
    print(f"model {args.model}, device {ga['device']}, batch {args.batch_size} x {ga['tokens']} answer tokens, "
          f"{args.steps} timed steps each, {args.rounds} round(s)")
    print(f"{'variant':<20}{'step s':>9}{'x GA':>7}{'peak MiB':>10}{'x GA':>7}{'extra MiB':>11}{'x GA':>7}"
          f"{'setup s':>9}{'targets KiB':>13}")
    for name, r in results.items():
        print(f"{name:<20}{r['step_s']:>9.3f}{r['step_s'] / ga['step_s']:>7.2f}{r['peak'] / mib:>10.0f}"
              f"{r['peak'] / ga['peak']:>7.2f}{r['extra'] / mib:>11.0f}{r['extra'] / max(ga['extra'], 1):>7.2f}"
              f"{r['setup_s']:>9.2f}{r['targets_bytes'] / 1024:>13.1f}")
    sparse, frozen = results["prod-sparse"], results["prod-frozen-model"]
    print(f"PROD sparse vs GA: time {sparse['step_s'] / ga['step_s']:.2f}x, peak memory "
          f"{sparse['peak'] / ga['peak']:.2f}x (targets <= 1.1x)")
    print(f"PROD sparse vs frozen second model: time {sparse['step_s'] / frozen['step_s']:.2f}x, peak memory "
          f"{sparse['peak'] / frozen['peak']:.2f}x, extra memory {sparse['extra'] / max(frozen['extra'], 1):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
