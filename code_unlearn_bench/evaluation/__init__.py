"""The evaluation run path: a model and typed config in, a run directory with results out.

``prepare`` (task data, settings and identity, once) -> ``runner`` (generate what is missing,
score everything) with its helpers ``token_budget`` and ``health``; ``run`` (`evaluate`,
`rescore`: the pipeline step that opens the run directory and builds the model handle) with
``replicas`` (data-parallel child processes) and ``sessions`` (one entry per (re)start).
"""
