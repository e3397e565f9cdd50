"""The run directory: manifest, per-task generation files written as they go, results.json.

Crash safety: generation records are appended one JSON line per sample and fsynced after each
batch; on restart a torn last line (the process died mid-write) is dropped and the file truncated
to the last complete record, so a resumed run neither loses nor duplicates a sample. Whole-file
writes (manifest, rescored generations, results) go through a temp file and ``os.replace``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from code_unlearn_bench import RESULT_SCHEMA_VERSION
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.jsonio import atomic_write_text, dump_json
from code_unlearn_bench.results import GENERATIONS_DIR, MANIFEST_FILE, RESULTS_FILE


class RunStore:
    def __init__(self, output_dir: str | Path):
        self.root = Path(output_dir).expanduser()
        self.manifest_path = self.root / MANIFEST_FILE
        self.results_path = self.root / RESULTS_FILE
        self.gen_dir = self.root / GENERATIONS_DIR

    # -- manifest --------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def read_manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CubError(f"'{self.root}' holds no cub run (no {MANIFEST_FILE})") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise CubError(f"unreadable {self.manifest_path}: {exc}") from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.manifest_path, dump_json(manifest))

    def check_writable(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=".cub-write-test-", delete=True)
            probe.close()
        except OSError as exc:
            raise CubError(f"output dir '{self.root}' is not writable: {exc.strerror or exc}") from None

    def open(self, run_identity: dict[str, Any], overwrite: bool) -> dict[str, Any]:
        """Start or resume: returns the manifest. A dir holding another model/config is refused
        unless ``overwrite`` (then its generations and results are removed)."""
        self.check_writable()
        if self.exists():
            manifest = self.read_manifest()
            if manifest.get("identity") == run_identity:
                return manifest
            if not overwrite:
                old = manifest.get("identity", {})
                diff = sorted(k for k in set(old) | set(run_identity) if old.get(k) != run_identity.get(k))
                raise CubError(f"'{self.root}' holds a run with a different {', '.join(diff) or 'identity'}; "
                               f"use another --output-dir or --overwrite")
            self.clear()
        manifest = {"schema_version": RESULT_SCHEMA_VERSION, "identity": run_identity, "tasks": {}}
        return manifest

    def clear(self) -> None:
        for f in list(self.gen_dir.glob("*.jsonl")) if self.gen_dir.exists() else []:
            f.unlink()
        for f in (self.results_path, self.manifest_path):
            if f.exists():
                f.unlink()

    # -- generations ---------------------------------------------------------------------------
    def gen_path(self, task: str) -> Path:
        return self.gen_dir / f"{task}.jsonl"

    def read_records(self, task: str, repair: bool = True) -> list[dict[str, Any]]:
        path = self.gen_path(task)
        if not path.exists():
            return []
        raw = path.read_bytes()
        records, good_end, pos = [], 0, 0
        for line in raw.splitlines(keepends=True):
            pos += len(line)
            if not line.endswith(b"\n"):
                break  # torn final write
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
            good_end = pos
        if good_end != len(raw):
            if not repair:
                raise CubError(f"{path} is truncated or corrupt after record {len(records)}")
            with path.open("r+b") as f:
                f.truncate(good_end)
        return records

    def append_records(self, task: str, records: Iterable[dict[str, Any]]) -> None:
        path = self.gen_path(task)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
        with path.open("a", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def rewrite_records(self, task: str, records: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
        atomic_write_text(self.gen_path(task), text)

    # -- results -------------------------------------------------------------------------------
    def write_results(self, results: dict[str, Any]) -> None:
        atomic_write_text(self.results_path, dump_json(results))
