"""`cub`: one module per subcommand, imported only when that subcommand runs."""

from __future__ import annotations

import argparse
import importlib
import sys

from code_unlearn_bench import __version__
from code_unlearn_bench.errors import CubError, out_of_memory, out_of_memory_message
from code_unlearn_bench.registry import did_you_mean

COMMANDS = {
    "evaluate": "evaluate a model on tasks (generate, score, write results.json)",
    "score": "re-score saved generations of a run (no model needed)",
    "tasks": "list the registered tasks",
    "learn": "fine-tune a model on a forget set (implant it before unlearning)",
    "unlearn": "unlearn a forget set with PROD or a baseline (GA, NPO, DPO, FLAT, GradDiff, SimNPO, RMU)",
    "rank": "rank evaluated models by Pareto Dominance Ratio and draw trade-off plots",
    "check": "CI regression gate: compare a candidate run with a baseline",
    "leaderboard": "validate submissions and build the static leaderboard site",
    "attack": "attack an unlearned checkpoint (prefix injection, quantisation, relearning, MIA)",
    "reproduce": "run the paper's whole pipeline (learn, unlearn, evaluate, rank, attack)",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (exit 2) instead of usage + message."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _load(command: str):
    return importlib.import_module(f"code_unlearn_bench.cli.{command}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="cub", description="code-unlearn-bench: unlearning benchmark for code LLMs")
    parser.add_argument("--version", action="version", version=f"cub {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            _load(name).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        print(f"cub: error: unknown command '{command}' {did_you_mean(command, COMMANDS)}", file=sys.stderr)
        return 2
    try:
        parser = build_parser(command)
    except ModuleNotFoundError as exc:
        print(f"cub: error: command '{command}' is not available in this install ({exc.name})", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
        args.argv = argv  # a command may re-run itself under a launcher (cub unlearn --num-processes)
    except SystemExit as exc:  # --help, --version, usage errors: return the code, don't raise
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(_load(args.command).run(args) or 0)
    except CubError as exc:
        print(f"cub: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cub: interrupted (partial results are kept; rerun the same command to resume)", file=sys.stderr)
        return 130
    except Exception as exc:  # MemoryError, CUDA / vLLM out of memory: one line with the knobs
        if not out_of_memory(exc):
            raise
        print(f"cub: error: {out_of_memory_message(exc, args.command, getattr(args, 'batch_size', None))}",
              file=sys.stderr)
        return 2
