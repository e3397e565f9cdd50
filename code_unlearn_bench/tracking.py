"""Experiment tracking with Weights & Biases: ``--wandb`` / ``--wandb-args`` on evaluate, learn,
unlearn and reproduce.

wandb is the optional extra ``wandb`` and imported only when ``--wandb`` is given; without it the
command stops with a one-line error naming the extra. What a run holds:

* config: the command's typed config (EvalConfig / TrainConfig + the method's hyper-parameters);
* ``train/loss`` per optimizer step and ``train/epoch_mean_loss`` per epoch (learn, unlearn),
  logged as each epoch is saved;
* per-task metrics with their CIs in the run summary (``<task>/<metric>``, ``.../ci_low``,
  ``.../ci_high``) and a ``metrics`` table;
* a ``generations`` table (task, sample id, completion or log-likelihood, scores);
* images: the trade-off plot (reproduce).

``--wandb-args`` takes ``wandb.init`` keywords as ``key=value`` pairs separated by commas
(``project=cub,entity=lab,mode=offline``; ``tags`` as ``a;b``). ``mode=offline`` writes the run
under ``dir`` (default ./wandb) for a later ``wandb sync``.
"""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.registry import did_you_mean

EXTRA = "pip install 'code-unlearn-bench[wandb]'"
INIT_KEYS = ("project", "entity", "mode", "name", "group", "tags", "dir", "job_type", "notes", "id", "resume")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("experiment tracking (optional extra: wandb)")
    g.add_argument("--wandb", action="store_true", help="log config, losses, metrics and generations to W&B")
    g.add_argument("--wandb-args", metavar="KEY=VALUE,...",
                   help=f"wandb.init arguments, e.g. project=cub,entity=lab,mode=offline ({', '.join(INIT_KEYS)}; "
                        f"tags as a;b)")


def parse_init_args(text: str | None) -> dict[str, Any]:
    from code_unlearn_bench.config import split_key_values

    out: dict[str, Any] = {}
    for key, value in split_key_values(text, "--wandb-args"):
        if key not in INIT_KEYS:
            raise CubError(f"--wandb-args: unknown key '{key}' {did_you_mean(key, INIT_KEYS)}")
        out[key] = [t for t in value.split(";") if t] if key == "tags" else value
    return out


class NoTracker:
    """What a command holds without --wandb: every hook is a no-op."""

    def log_epoch(self, entry: dict[str, Any], prefix: str = "train/") -> None: ...

    def log_results(self, results: dict[str, Any], prefix: str = "") -> None: ...

    def log_generations(self, run_dir: str | Path, prefix: str = "") -> None: ...

    def log_image(self, key: str, path: str | Path) -> None: ...

    def log_summary(self, values: dict[str, Any]) -> None: ...

    def finish(self, failed: bool = False) -> None: ...


class WandbTracker(NoTracker):
    def __init__(self, job_type: str, config: dict[str, Any], init_args: dict[str, Any]):
        try:
            import wandb
        except ImportError:
            raise CubError(f"--wandb needs the optional extra 'wandb': {EXTRA}") from None
        self.wandb = wandb
        init_args = {"job_type": job_type, **init_args}
        if init_args.get("dir"):
            Path(init_args["dir"]).mkdir(parents=True, exist_ok=True)
        try:
            self.run = wandb.init(config=_plain(config), settings=wandb.Settings(quiet=True), **init_args)
        except Exception as exc:  # no API key online, a bad entity, ...: one line, not wandb's traceback
            raise CubError(f"wandb.init failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}") \
                from None
        self.step = 0

    def _log(self, values: dict[str, Any]) -> None:
        # every call gets a step of its own: wandb drops data logged to a step it already wrote
        self.run.log(values, step=self.step)
        self.step += 1

    def log_epoch(self, entry: dict[str, Any], prefix: str = "train/") -> None:
        for loss in entry.get("losses", []):
            self._log({f"{prefix}loss": loss, f"{prefix}epoch": entry["epoch"]})
        shown = [x for x in entry.get("losses", []) if x is not None]
        self._log({f"{prefix}epoch_mean_loss": sum(shown) / len(shown) if shown else None,
                   f"{prefix}epoch": entry["epoch"], f"{prefix}epoch_time_s": entry.get("time_s")})

    def log_results(self, results: dict[str, Any], prefix: str = "") -> None:
        rows = []
        for task, result in results.get("tasks", {}).items():
            if result.get("status") != "completed":
                continue
            for metric, m in result.get("metrics", {}).items():
                ci = m.get("ci95") or [None, None]
                key = f"{prefix}{task}/{metric}"
                self.run.summary[key] = m.get("value")
                self.run.summary[f"{key}/ci_low"], self.run.summary[f"{key}/ci_high"] = ci
                rows.append([prefix + task, metric, m.get("value"), ci[0], ci[1], m.get("n"),
                             m.get("higher_is_better")])
        if rows:
            columns = ["task", "metric", "value", "ci_low", "ci_high", "n", "higher_is_better"]
            self._log({f"{prefix}metrics": self.wandb.Table(columns=columns, data=rows)})

    def log_generations(self, run_dir: str | Path, prefix: str = "") -> None:
        rows = []
        for path in sorted((Path(run_dir) / "generations").glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                text = rec.get("completion")
                if text is None and "loglikelihood" in rec:
                    ll = rec["loglikelihood"]
                    text = f"loglikelihood {ll.get('sum')} over {ll.get('n_tokens')} tokens"
                rows.append([path.stem, rec.get("id"), text, json.dumps(rec.get("scores", {}), sort_keys=True)])
        if rows:
            table = self.wandb.Table(columns=["task", "id", "generation", "scores"], data=rows)
            self._log({f"{prefix}generations": table})

    def log_image(self, key: str, path: str | Path) -> None:
        self._log({key: self.wandb.Image(str(path))})

    def log_summary(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            self.run.summary[key] = value

    def finish(self, failed: bool = False) -> None:
        self.run.finish(exit_code=1 if failed else 0)


def start(args: argparse.Namespace, job_type: str, config: dict[str, Any]) -> NoTracker:
    """The tracker the command's flags ask for (a no-op one without --wandb)."""
    if not getattr(args, "wandb", False):
        if getattr(args, "wandb_args", None):
            raise CubError("--wandb-args is given without --wandb")
        return NoTracker()
    return WandbTracker(job_type, config, parse_init_args(getattr(args, "wandb_args", None)))


@contextmanager
def session(args: argparse.Namespace, job_type: str, config: dict[str, Any]):
    """``with session(args, "evaluate", config) as tracker:`` -- the run is finished (marked failed
    on an exception) when the block ends."""
    tracker = start(args, job_type, config)
    try:
        yield tracker
    except BaseException:
        tracker.finish(failed=True)
        raise
    tracker.finish()


def read_offline_run(wandb_dir: str | Path, wait_s: float = 60.0) -> tuple[dict, dict, list[dict], Path]:
    """(config, summary, history rows, run dir) of the one offline run under ``wandb_dir`` (the
    ``dir`` given to --wandb-args), read with wandb's own record reader: what was logged can be
    checked without syncing. wandb's service process may still be writing the file when
    ``finish()`` has returned, so this waits (up to ``wait_s``) for the run's exit record."""
    import time

    runs = sorted((Path(wandb_dir) / "wandb").glob("offline-run-*"))
    if len(runs) != 1:
        raise CubError(f"expected one offline run under {wandb_dir}/wandb, found {len(runs)}")
    deadline = time.monotonic() + wait_s
    while True:
        records = _records(next(runs[0].glob("run-*.wandb")))
        if any(kind == "exit" for kind, _ in records):
            break
        if time.monotonic() > deadline:
            raise CubError(f"the offline run {runs[0]} has no exit record after {wait_s:.0f}s (still running?)")
        time.sleep(0.2)
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    for kind, rec in records:
        if kind in ("run", "config"):
            items = rec.run.config.update if kind == "run" else rec.config.update
            config.update({i.key: json.loads(i.value_json) for i in items})
        elif kind == "summary":
            summary.update({i.key: json.loads(i.value_json) for i in rec.summary.update if i.key})
        elif kind == "history":  # a logged table/image is a nested item: keep its top-level key
            history.append({i.key or i.nested_key[0]: json.loads(i.value_json) for i in rec.history.item})
    config = {k: v.get("value", v) if isinstance(v, dict) else v for k, v in config.items()}
    return config, summary, history, runs[0]


def _records(path: Path) -> list[tuple[str, Any]]:
    from wandb.proto import wandb_internal_pb2 as pb
    from wandb.sdk.internal import datastore

    store = datastore.DataStore()
    store.open_for_scan(str(path))
    out = []
    try:
        while (data := store.scan_data()) is not None:
            rec = pb.Record()
            rec.ParseFromString(data)
            out.append((rec.WhichOneof("record_type"), rec))
    except AssertionError:  # a block still being written: read again later
        pass
    return out


def _plain(value: Any) -> Any:
    """JSON-safe config (paths and tuples become strings and lists)."""
    return json.loads(json.dumps(value, default=str))
