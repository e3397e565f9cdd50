"""Hugging Face transformers backend (CPU or GPU)."""

from __future__ import annotations

from typing import Sequence

from code_unlearn_bench.models.base import Backend, GenerationSettings, ModelInfo, cut_at_stop
from code_unlearn_bench.models.loading import ResolvedModel, as_resolved, load_model, load_tokenizer, model_info


class HFBackend(Backend):
    name = "hf"

    def __init__(self, model: str | ResolvedModel, dtype: str = "float32", device: str | None = None,
                 info: ModelInfo | None = None, **_: object):
        import torch

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        resolved = as_resolved(model)
        tokenizer = load_tokenizer(resolved)
        super().__init__(info or model_info(resolved), tokenizer)
        self.model = load_model(resolved, dtype=dtype, device=device)
        self.device = device
        cfg = getattr(self.model, "config", None)
        self.max_length = int(getattr(cfg, "max_position_embeddings", 2048) or 2048)

    # -- generation -------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], settings: GenerationSettings, batch_size: int = 8) -> list[str]:
        import torch

        out: list[str] = [""] * len(prompts)
        # Longest first: batches of similar length waste less compute on padding.
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        greedy = settings.temperature <= 0
        kwargs = dict(max_new_tokens=settings.max_new_tokens, do_sample=not greedy,
                      pad_token_id=self.tokenizer.pad_token_id)
        if not greedy:
            kwargs.update(temperature=settings.temperature, top_p=settings.top_p)
            torch.manual_seed(settings.seed)
        if settings.stop:
            # Stop early once every sequence of the batch hit a stop string; the text is cut below.
            kwargs.update(stop_strings=list(settings.stop), tokenizer=self.tokenizer)
        if greedy:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        budget = max(1, self.max_length - settings.max_new_tokens)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = self.tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                                 add_special_tokens=True)
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
    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        tok = self.tokenizer
        ctx = tok(context, add_special_tokens=False)["input_ids"] if context else []
        whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
        if whole[:len(ctx)] == ctx:
            cont = whole[len(ctx):]
        else:  # the join re-tokenised differently: score the continuation on its own tokens
            cont = tok(continuation, add_special_tokens=False)["input_ids"]
        # An empty context still needs one token to condition the first continuation token on.
        start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        return [start] + ctx, cont

    def loglikelihood(self, requests: Sequence[tuple[str, str]], batch_size: int = 8) -> list[list[float]]:
        import torch

        windows = []  # (request index, input ids, number of scored tokens at the end)
        for r, (context, continuation) in enumerate(requests):
            ctx, cont = self._encode_pair(context, continuation)
            # Rolling windows: a continuation longer than the model's context is scored in chunks,
            # each conditioned on as much preceding text as fits.
            pos = 0
            while pos < len(cont) or (pos == 0 and not cont):
                if not cont:
                    windows.append((r, ctx[-self.max_length:], 0))
                    break
                chunk = cont[pos:pos + self.max_length - 1]
                prefix = (ctx + cont[:pos])[-(self.max_length - len(chunk)):]
                windows.append((r, prefix + chunk, len(chunk)))
                pos += len(chunk)
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
