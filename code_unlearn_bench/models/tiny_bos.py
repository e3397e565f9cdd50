"""A tiny Llama whose tokenizer adds a BOS token, as CodeLlama's, Llama 3's and DeepSeek-Coder's do.

Servers echo that BOS (``vllm serve``: ``"<s>"`` at text offset 0), which the openai backend's
log-likelihood path must account for; the other tiny models (models/tiny.py) add no special
token. Two tokenizer styles: ``metaspace`` (SentencePiece-like, ``▁`` word prefix: CodeLlama,
Llama 2) and ``byte`` (byte-level BPE: Llama 3, DeepSeek-Coder). head_dim 32: vLLM's CPU attention
rejects smaller heads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from code_unlearn_bench.models import tiny

BOS = "<s>"
EOS = "</s>"
PAD = "<pad>"


def build_bos_tokenizer(texts: Sequence[str] | None = None, vocab_size: int = 2048, style: str = "metaspace"):
    """A BPE tokenizer that prepends ``<s>`` to every encoding (``add_special_tokens=True``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts) if texts is not None else tiny.stdlib_texts()
    if style == "metaspace":
        tok = Tokenizer(models.BPE(byte_fallback=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="▁",
                                                                                       prepend_scheme="first")])
        # byte pieces <0x00>..<0xFF> as SentencePiece's byte fallback has them
        alphabet = [f"<0x{i:02X}>" for i in range(256)]
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS, EOS, PAD, *alphabet],
                                      show_progress=False)
    elif style == "byte":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS, EOS, PAD],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    else:
        raise ValueError(f"style must be 'metaspace' or 'byte', not {style!r}")
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
                                                       special_tokens=[(BOS, bos_id)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD)
    fast.padding_side = "left"
    return fast


def make_bos_model_dir(out_dir: str | Path, style: str = "metaspace", hidden: int = 128, heads: int = 4,
                       layers: int = 2, vocab_size: int = 2048, max_positions: int = 1024, train: Sequence[str] = (),
                       steps: int = 0, seed: int = 0) -> Path:
    """Tokenizer + tiny Llama (head_dim ``hidden // heads``), trained ``steps`` steps on ``train``
    (a random model mostly emits blank lines), saved as an HF dir."""
    tok = build_bos_tokenizer(vocab_size=vocab_size, style=style)
    model = tiny.build_tiny_llama(tok, hidden=hidden, layers=layers, heads=heads, max_positions=max_positions,
                                  seed=seed)
    model.config.bos_token_id = tok.bos_token_id
    if train and steps:
        tiny.train_memorise(model, tok, train, steps=steps, seed=seed)
    return tiny.save(model, tok, out_dir)
