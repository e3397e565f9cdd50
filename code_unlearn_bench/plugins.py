"""Every plugin registry of cub, in one place.

Each registry resolves a short name to ``"module:attr"`` and imports it only when chosen
(:mod:`code_unlearn_bench.registry`). Three ways in, for every kind:

* built in: one line below (backends, sandboxes, attacks) or one file in the plugin package
  (loaders, analyzers, unlearning methods, task specs);
* from a user's own installed package: a Python entry point in the group named below, e.g. in its
  ``pyproject.toml``::

      [project.entry-points."cub.methods"]
      my_method = "my_pkg.method:METHOD"
      [project.entry-points."cub.tasks"]
      my_pkg = "my_pkg.tasks"        # a package holding task spec YAML files

  (docs/architecture.md has the worked example);
* ad hoc on the command line: ``--method my_pkg.method:METHOD``.

Unknown names get a one-line error with "did you mean".
"""

from __future__ import annotations

from code_unlearn_bench.registry import LazyRegistry, PackageRegistry

BACKENDS = LazyRegistry("backend", {
    "hf": "code_unlearn_bench.models.hf:HFBackend",
    "vllm": "code_unlearn_bench.models.vllm:VLLMBackend",
    "openai": "code_unlearn_bench.models.openai:OpenAIBackend",
}, group="cub.backends")

# Tried in this order by `--sandbox auto`.
SANDBOXES = LazyRegistry("sandbox", {
    "docker": "code_unlearn_bench.sandbox.docker:DockerSandbox",
    "bwrap": "code_unlearn_bench.sandbox.bwrap:BwrapSandbox",
    "process": "code_unlearn_bench.sandbox.process:ProcessSandbox",
}, group="cub.sandboxes")

ATTACKS = LazyRegistry("attack", {
    "prefix": "code_unlearn_bench.attacks.prefix:ATTACK",
    "quant": "code_unlearn_bench.attacks.quant:ATTACK",
    "relearn": "code_unlearn_bench.attacks.relearn:ATTACK",
    "mia": "code_unlearn_bench.attacks.mia:ATTACK",
}, group="cub.attacks")

METHODS = PackageRegistry("unlearning method", "code_unlearn_bench.unlearn.methods", "METHOD",
                          group="cub.methods")
LOADERS = PackageRegistry("loader", "code_unlearn_bench.loaders", "load", group="cub.loaders")
ANALYZERS = PackageRegistry("analyzer", "code_unlearn_bench.analyzers", "ANALYZER", group="cub.analyzers",
                            helpers=("base", "bleu", "icd"))

# Task specs are data (YAML), found by package: the built-in `tasks/` folder, then every package an
# entry point of this group names (tasks.spec reads them).
TASK_SPEC_PACKAGES = "code_unlearn_bench.tasks"
TASKS_GROUP = "cub.tasks"

ALL = {"backend": BACKENDS, "sandbox": SANDBOXES, "attack": ATTACKS, "method": METHODS, "loader": LOADERS,
       "analyzer": ANALYZERS}
