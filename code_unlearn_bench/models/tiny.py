"""Tiny Llama models built from scratch in seconds: for tests, benches and the `test` presets.

No hub download anywhere: the tokenizer is a byte-level BPE trained on the given texts (by
default Python standard-library sources), the model a randomly initialised LlamaForCausalLM.
"""

from __future__ import annotations

import json
import random
import sysconfig
from pathlib import Path
from typing import Sequence

EOS = "<|endoftext|>"
PAD = "<|pad|>"


def stdlib_texts(max_files: int = 200, max_chars: int = 6000) -> list[str]:
    """Deterministic sample of standard-library sources (tokenizer training corpus)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.glob("*.py") if p.is_file())
    out = []
    for p in files[:max_files]:
        try:
            out.append(p.read_text(encoding="utf-8")[:max_chars])
        except (UnicodeDecodeError, OSError):
            continue
    return out


def build_tokenizer(texts: Sequence[str] | None = None, vocab_size: int = 2048):
    """A byte-level BPE tokenizer wrapped as a transformers fast tokenizer (left padding)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts) if texts is not None else stdlib_texts()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD, bos_token=None)
    fast.padding_side = "left"
    return fast


def build_tiny_llama(tokenizer, hidden: int = 128, layers: int = 4, heads: int = 4,
                     max_positions: int = 1024, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def train_memorise(model, tokenizer, texts: Sequence[str], steps: int = 200, lr: float = 3e-3,
                   max_length: int = 256, seed: int = 0) -> list[float]:
    """Plain next-token training on ``texts`` (one sequence per step, cycling) until memorised."""
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    encoded = [tokenizer(t + EOS, return_tensors="pt", truncation=True, max_length=max_length)["input_ids"]
               for t in texts]
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    losses = []
    order: list[int] = []
    for _ in range(steps):
        if not order:
            order = list(range(len(encoded)))
            rng.shuffle(order)
        ids = encoded[order.pop()]
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    model.eval()
    return losses


def save(model, tokenizer, out_dir: str | Path, meta: dict | None = None) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if meta:
        (out / "tiny_meta.json").write_text(json.dumps(meta, indent=1))
    return out


def make_tiny_model_dir(out_dir: str | Path, memorise: Sequence[str] = (), steps: int = 200,
                        hidden: int = 128, layers: int = 4, vocab_size: int = 2048, seed: int = 0,
                        heads: int = 4) -> Path:
    """One call: tokenizer + tiny Llama (+ optional memorisation of ``memorise``) saved as an HF dir."""
    corpus = stdlib_texts() + list(memorise)
    tok = build_tokenizer(corpus, vocab_size=vocab_size)
    model = build_tiny_llama(tok, hidden=hidden, layers=layers, heads=heads, seed=seed)
    losses = train_memorise(model, tok, memorise, steps=steps, seed=seed) if memorise else []
    return save(model, tok, out_dir, {"final_loss": losses[-1] if losses else None})


# vLLM's CPU attention takes head sizes 32, 64, 80, ... only (vllm/v1/attention/backends/cpu_attn.py)
VLLM_TINY = dict(hidden=64, layers=2, heads=2)  # head_dim 32: the smallest model vLLM on CPU serves


def make_vllm_tiny_model_dir(out_dir: str | Path, memorise: Sequence[str] = (), steps: int = 200) -> Path:
    """A tiny Llama that vLLM's CPU platform accepts (head_dim 32)."""
    return make_tiny_model_dir(out_dir, memorise, steps, **VLLM_TINY)
