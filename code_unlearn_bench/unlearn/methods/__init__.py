"""Unlearning methods, one module per method, each exposing ``METHOD`` (a Method subclass).

Adding a method is adding one file here; `cub unlearn --method <file name>` finds it. A method in
a user's own package is found through the ``cub.methods`` entry point, or named as
``"package.module:METHOD"`` (:mod:`code_unlearn_bench.plugins`).
"""

from __future__ import annotations

from code_unlearn_bench.plugins import METHODS


def method_names() -> list[str]:
    return METHODS.names()


def get_method(name: str):
    """The Method class registered as ``name`` (one-line CubError listing the known ones)."""
    return METHODS.load(name)
