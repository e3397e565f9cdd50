"""Unlearning methods, one module per method, each exposing ``METHOD`` (a Method subclass).

Adding a method is adding one file here; `cub unlearn --method <file name>` finds it. A plug-in
outside the package can be named as ``"package.module:Class"``.
"""

from __future__ import annotations

from code_unlearn_bench.registry import PackageRegistry

METHODS = PackageRegistry("unlearning method", __name__, "METHOD")


def method_names() -> list[str]:
    return METHODS.names()


def get_method(name: str):
    """The Method class registered as ``name`` (one-line CubError listing the known ones)."""
    return METHODS.load(name)
