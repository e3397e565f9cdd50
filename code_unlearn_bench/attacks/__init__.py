"""Attacks on unlearned checkpoints (`cub attack`, docs/attacks.md).

engine         the attack run dir, settings evaluated through the core runner, results assembly
eligibility    the paper's rule: attack only checkpoints keeping >= 60% of the original utility
prefix         prefix injection (the paper's attack)
quant, quantize  quantisation attack / the int8-int4 weight round-trip it applies
relearn        relearning attack (fine-tuning on related, disjoint data)
mia, membership  membership inference / Min-K%, zlib scores and their AUC
related_data   built-in disjoint relearning and holdout data
"""
