"""`cub reproduce`: the paper's whole pipeline, resumable.

``presets`` (named settings), ``plan`` (`--dry-run` sizing), ``pipeline`` (`Pipeline`: learn ->
unlearn -> evaluate -> attack -> rank -> leaderboard), ``parallel`` (fan-out over GPUs),
``multi`` (several seeds / tasks), ``summary`` (REPORT.md in the shape of the paper's Table 1).
"""
