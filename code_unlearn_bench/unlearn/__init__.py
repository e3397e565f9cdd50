"""Learning (implanting a forget set) and unlearning it: one training loop, one file per method.

* :mod:`.data` builds (x_f, y_f) forget pairs from any registered forget task and tokenises them;
* :mod:`.method` is the contract a method implements (optional frozen precompute + a loss);
* :mod:`.methods` holds the methods, one module each, found by name (``cub unlearn --method``);
* :mod:`.trainer` is the shared loop (accumulation, bf16, LoRA, per-epoch checkpoints, resume).
"""
