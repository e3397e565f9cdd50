"""Per-row seeded sampling for transformers' ``generate``: batch-invariant and reproducible.

transformers draws every row of a batch from one global RNG, so a sample's completion would depend
on its batch neighbours (and change when a resumed run batches differently). This processor does
the sampling itself, each row from its own ``torch.Generator`` seeded with the row's sample seed,
and hands ``generate`` a one-hot score row, so greedy decoding picks exactly the sampled token.
"""

from __future__ import annotations

from typing import Sequence


def seeded_sampler(seeds: Sequence[int], temperature: float, top_p: float):
    import torch
    from transformers import LogitsProcessor

    class SeededSampler(LogitsProcessor):
        def __init__(self):
            self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]

        def __call__(self, input_ids, scores):
            logits = scores.float() / temperature
            probs = torch.softmax(logits, dim=-1)
            if top_p < 1.0:
                sorted_p, order = probs.sort(dim=-1, descending=True)
                # drop tokens once the mass before them already reaches top_p (the first always stays)
                drop = (sorted_p.cumsum(-1) - sorted_p) >= top_p
                sorted_p = sorted_p.masked_fill(drop, 0.0)
                probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
            probs = probs.cpu()  # generators live on the CPU: same draws on every device
            picked = [int(torch.multinomial(probs[b], 1, generator=g)) for b, g in enumerate(self.generators)]
            out = torch.full_like(scores, float("-inf"))
            out[torch.arange(len(picked)), torch.tensor(picked, device=scores.device)] = 0.0
            return out

    return SeededSampler()
