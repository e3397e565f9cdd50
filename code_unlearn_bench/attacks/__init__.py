"""Attacks on unlearned checkpoints (`cub attack`, docs/attacks.md).

registry       name -> attack plugin (one line per attack)
attack_run     the Attack plugin contract, run_attack (library entry), the attack run dir, settings
               evaluated through the core run path, results assembly
eligibility    the paper's rule: attack only checkpoints keeping >= 60% of the original utility
prefix         prefix injection (the paper's attack)
quant          quantisation attack; quant_weights: the int8/int4 weight round-trip it applies
relearn        relearning attack (fine-tuning on related, disjoint data)
mia            membership inference; mia_scores: Min-K%, zlib scores and their AUC
related_data   built-in disjoint relearning and holdout data
"""
