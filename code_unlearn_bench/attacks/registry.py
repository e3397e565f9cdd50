"""The attack registry: name -> the module's ``ATTACK`` (imported only when that attack is used).

Adding an attack is one module exposing ``ATTACK = <Attack subclass>`` and one line here
(docs/architecture.md has a worked example)."""

from __future__ import annotations

from code_unlearn_bench.registry import LazyRegistry

ATTACKS = LazyRegistry("attack", {
    "prefix": "code_unlearn_bench.attacks.prefix:ATTACK",
    "quant": "code_unlearn_bench.attacks.quant:ATTACK",
    "relearn": "code_unlearn_bench.attacks.relearn:ATTACK",
    "mia": "code_unlearn_bench.attacks.mia:ATTACK",
})
