"""The plugin registry pattern used for every extension point.

A registry maps a short name to ``"module.path:attribute"``; the module is imported only when the
name is resolved, so heavy backends (vLLM, torch training code) cost nothing until chosen.
Unknown names raise a one-line :class:`CubError` with a "did you mean" suggestion; a
``"package.module:attr"`` name loads a plug-in from outside the package.

* :class:`LazyRegistry`: an explicit table, one line per plugin (model backends, sandboxes,
  attacks). Order matters there (help texts, sandbox fallback order).
* :class:`PackageRegistry`: by convention, one module per plugin in a package (loaders,
  analyzers, unlearning methods): adding the file is registering it.

Task specs (YAML files, :mod:`code_unlearn_bench.tasks.spec`) are data, not code, and are found
the same way as a PackageRegistry's modules.
"""

from __future__ import annotations

import difflib
import importlib
from importlib import metadata
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


def entry_point_targets(group: str) -> dict[str, str]:
    """name -> ``"module:attr"`` of the entry points installed packages declare under ``group``."""
    return {ep.name: ep.value for ep in metadata.entry_points(group=group)}


class Registry:
    """name -> ``"module:attr"`` target, resolved lazily; subclasses say where built-in names come
    from, ``group`` (an entry-point group) adds the plug-ins of installed packages."""

    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind
        self.group = group

    def builtin_names(self) -> list[str]:
        raise NotImplementedError

    def _builtin_target(self, name: str) -> str:
        raise NotImplementedError

    def plugin_targets(self) -> dict[str, str]:
        """Installed packages' entry points of this registry's group (built-in names left out)."""
        if not self.group:
            return {}
        builtin = set(self.builtin_names())
        return {n: t for n, t in entry_point_targets(self.group).items() if n not in builtin}

    def names(self) -> list[str]:
        return self.builtin_names() + sorted(self.plugin_targets())

    def _target_of(self, name: str) -> str:
        if name in self.builtin_names():
            return self._builtin_target(name)
        return self.plugin_targets()[name]

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def target(self, name: str) -> str:
        if name in self:
            return self._target_of(name)
        if ":" in name:  # a user-supplied plug-in path
            return name
        raise CubError(f"unknown {self.kind} '{name}' {did_you_mean(name, self.names())}")

    def load(self, name: str) -> Any:
        return import_object(self.target(name))


class LazyRegistry(Registry):
    """An explicit table: name -> "module:attr", in registration order."""

    def __init__(self, kind: str, entries: dict[str, str], group: str | None = None):
        super().__init__(kind, group)
        self._entries = dict(entries)

    def builtin_names(self) -> list[str]:
        return list(self._entries)

    def register(self, name: str, target: str) -> None:
        self._entries[name] = target

    def _builtin_target(self, name: str) -> str:
        return self._entries[name]


class PackageRegistry(Registry):
    """By convention: name ``x`` -> module ``<package>.x``, attribute ``attr`` (one file per entry).
    ``helpers``: modules of the package that are not entries (a base class, shared maths)."""

    def __init__(self, kind: str, package: str, attr: str, group: str | None = None,
                 helpers: Iterable[str] = ()):
        super().__init__(kind, group)
        self.package = package
        self.attr = attr
        self.helpers = frozenset(helpers)

    def builtin_names(self) -> list[str]:
        import pkgutil

        pkg = importlib.import_module(self.package)
        return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)
                      if not m.name.startswith("_") and m.name not in self.helpers)

    def _builtin_target(self, name: str) -> str:
        return f"{self.package}.{name}:{self.attr}"
