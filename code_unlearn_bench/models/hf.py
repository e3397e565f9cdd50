"""Hugging Face transformers backend (CPU or GPU)."""

from __future__ import annotations

from typing import Sequence

from code_unlearn_bench.models.base import Backend, Capabilities, GenerationSettings, ModelInfo, cut_at_stop
from code_unlearn_bench.models.chat import chat_format
from code_unlearn_bench.models.loading import (ResolvedModel, as_resolved, load_model, load_tokenizer, model_info,
                                               resolve_dtype)
from code_unlearn_bench.models.seeds import sample_seed


class HFBackend(Backend):
    name = "hf"
    capabilities = Capabilities(weights_in_process=True)

    def __init__(self, model: str | ResolvedModel, dtype: str = "auto", device: str | None = None,
                 info: ModelInfo | None = None, revision: str | None = None, model_args: dict | None = None,
                 apply_chat_template: bool = False, system_prompt: str | None = None, **_: object):
        import torch

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        resolved = as_resolved(model, revision)
        tokenizer = load_tokenizer(resolved, model_args)
        super().__init__(info or model_info(resolved), tokenizer,
                         chat_format(tokenizer, resolved.spec, apply_chat_template, system_prompt))
        self.dtype = resolve_dtype(dtype, device)  # bfloat16 on CUDA, float32 on CPU unless asked
        self.model = load_model(resolved, dtype=self.dtype, device=device, model_args=model_args)
        self.device = device
        cfg = getattr(self.model, "config", None)
        self.max_length = int(getattr(cfg, "max_position_embeddings", 2048) or 2048)

    # -- generation -------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], settings: GenerationSettings, batch_size: int = 8,
                 seeds: Sequence[int] | None = None) -> list[str]:
        import torch
        from transformers import LogitsProcessorList

        from code_unlearn_bench.models.sampling import seeded_sampler

        prompts = self.render(prompts)
        out: list[str] = [""] * len(prompts)
        # Longest first: batches of similar length waste less compute on padding.
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        greedy = settings.temperature <= 0
        if not greedy and seeds is None:
            seeds = [sample_seed(settings.seed, "", i) for i in range(len(prompts))]
        # Sampling happens in a per-row seeded logits processor (models/sampling.py); generate itself
        # then only picks its one-hot choice greedily.
        kwargs = dict(max_new_tokens=settings.max_new_tokens, do_sample=False, temperature=None, top_p=None,
                      top_k=None, pad_token_id=self.tokenizer.pad_token_id)
        if settings.stop:
            # Stop early once every sequence of the batch hit a stop string; the text is cut below.
            kwargs.update(stop_strings=list(settings.stop), tokenizer=self.tokenizer)
        budget = max(1, self.max_length - settings.max_new_tokens)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if not greedy:
                kwargs["logits_processor"] = LogitsProcessorList([
                    seeded_sampler([seeds[i] for i in idx], settings.temperature, settings.top_p)])
            # A chat template already holds the special tokens the model expects.
            enc = self.tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                                 add_special_tokens=self.chat is None)
            if enc["input_ids"].shape[1] > budget:  # keep the end of over-long prompts
                enc = {k: v[:, -budget:] for k, v in enc.items()}
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with torch.inference_mode():
                gen = self.model.generate(**enc, **kwargs)
            new = gen[:, enc["input_ids"].shape[1]:]
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            for i, text in zip(idx, texts):
                out[i] = cut_at_stop(text, settings.stop)
        return out

    # -- log-likelihood ---------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[tuple[str, str]], batch_size: int = 8) -> list[list[float]]:
        import torch

        from code_unlearn_bench.models.scoring import encode_pair, windows as split

        windows = []  # (request index, input ids, number of scored tokens at the end)
        for r, (context, continuation) in enumerate(requests):
            ctx, cont = encode_pair(self.tokenizer, context, continuation, self.chat)
            windows.extend((r, ids, n) for ids, n in split(ctx, cont, self.max_length))
        results: list[list[float]] = [[] for _ in requests]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        for start in range(0, len(windows), batch_size):
            batch = windows[start:start + batch_size]
            width = max(len(ids) for _, ids, _ in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            attn = torch.zeros((len(batch), width), dtype=torch.long)
            for b, (_, ids, _) in enumerate(batch):  # right padding: positions stay 0..n-1
                input_ids[b, :len(ids)] = torch.tensor(ids)
                attn[b, :len(ids)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=input_ids.to(self.device),
                                    attention_mask=attn.to(self.device)).logits.float()
            logprobs = torch.log_softmax(logits, dim=-1)
            for b, (r, ids, n) in enumerate(batch):
                if n == 0:
                    continue
                L = len(ids)
                targets = torch.tensor(ids[L - n:], device=logprobs.device)
                lp = logprobs[b, L - n - 1:L - 1].gather(-1, targets[:, None])[:, 0]
                results[r].extend(float(x) for x in lp.cpu())
        return results
