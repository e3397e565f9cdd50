"""Lazy, convention-based registries.

A registry maps a short name to ``"module.path:attribute"``; the module is imported only when the
name is resolved, so heavy backends (vLLM, torch training code) cost nothing until chosen.
Unknown names raise a one-line :class:`CubError` with a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Iterable

from code_unlearn_bench.errors import CubError


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    choices = sorted(set(choices))
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"(known: {', '.join(choices)}){hint}"


def import_object(target: str) -> Any:
    """Import ``"package.module:attr"`` (or ``"package.module"``) and return the object."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CubError(f"cannot import '{module_name}' ({exc})") from None
    if not attr:
        return module
    try:
        return getattr(module, attr)
    except AttributeError:
        raise CubError(f"'{module_name}' has no attribute '{attr}'") from None


class LazyRegistry:
    """name -> "module:attr"; entries may also be given as a full "module:attr" path."""

    def __init__(self, kind: str, entries: dict[str, str]):
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def register(self, name: str, target: str) -> None:
        self._entries[name] = target

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def target(self, name: str) -> str:
        if name in self._entries:
            return self._entries[name]
        if ":" in name:  # a user-supplied plug-in path
            return name
        raise CubError(f"unknown {self.kind} '{name}' {did_you_mean(name, self._entries)}")

    def load(self, name: str) -> Any:
        return import_object(self.target(name))


class PackageRegistry:
    """Registry by convention: name ``x`` -> module ``<package>.x``, attribute ``attr``.

    Adding an entry is adding one file to the package; no central list to edit.
    """

    def __init__(self, kind: str, package: str, attr: str):
        self.kind = kind
        self.package = package
        self.attr = attr

    def names(self) -> list[str]:
        import pkgutil

        pkg = importlib.import_module(self.package)
        return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))

    def load(self, name: str) -> Any:
        if ":" in name:
            return import_object(name)
        if name not in self.names():
            raise CubError(f"unknown {self.kind} '{name}' {did_you_mean(name, self.names())}")
        return import_object(f"{self.package}.{name}:{self.attr}")
