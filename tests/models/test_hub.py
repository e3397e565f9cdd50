"""Hub ids (org/name[@revision]) from a fake Hugging Face cache with HF_HUB_OFFLINE=1 (no network)."""

import json
import os
import shutil

import pytest

from code_unlearn_bench.config import parse_model_args
from code_unlearn_bench.errors import CubError, ModelError
from code_unlearn_bench.models.loading import fingerprint, resolve_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLD = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture
def hub_cache(tiny_model_dir, tmp_path, monkeypatch):
    """models--org--tiny with two commits laid out as huggingface_hub does: blobs + symlinked snapshots."""
    from code_unlearn_bench.env import get_env

    root = tmp_path / "hf" / "hub" / "models--org--tiny"
    for commit in (COMMIT, OLD):
        snap = root / "snapshots" / commit
        snap.mkdir(parents=True)
        for f in tiny_model_dir.iterdir():
            blob = root / "blobs" / f"{commit[:8]}-{f.name}"
            blob.parent.mkdir(exist_ok=True)
            shutil.copy(f, blob)
            os.symlink(blob, snap / f.name)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    get_env.cache_clear()
    yield root
    get_env.cache_clear()


def test_hub_id_resolves_to_the_cached_snapshot(hub_cache, tiny_model_dir):
    r = resolve_model("org/tiny")
    assert r.format == "hf" and r.path == hub_cache / "snapshots" / COMMIT and r.name == "org/tiny"
    assert r.hub == {"repo_id": "org/tiny", "revision": COMMIT}
    assert fingerprint(r) == fingerprint(resolve_model(str(tiny_model_dir)))  # same bytes, same fingerprint
    old = resolve_model(f"org/tiny@{OLD}")
    assert old.hub["revision"] == OLD and resolve_model("org/tiny", revision=OLD).path == old.path
    with pytest.raises(ModelError, match="names revision"):
        resolve_model(f"org/tiny@{OLD}", revision=COMMIT)


def test_uncached_hub_model_offline_is_a_one_line_error(hub_cache):
    for spec in ("org/other", "org/tiny@v9"):
        with pytest.raises(ModelError, match="not in the Hugging Face cache .* HF_HUB_OFFLINE=1") as exc:
            resolve_model(spec)
        assert "\n" not in str(exc.value)


def test_evaluate_hub_model_records_repo_and_commit(hub_cache, cub, tmp_path, tiny_memorised):
    code, out, err = cub("evaluate", "--model", "org/tiny", "--revision", "main", "--data", tiny_memorised.seen_jsonl,
                         "--max-new-tokens", "4", "--output-dir", tmp_path / "run", "--quiet", "--backend", "hf",
                         "--model-args", "attn_implementation=eager,low_cpu_mem_usage=true")
    assert code == 0, err
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["model"]["hub"] == {"repo_id": "org/tiny", "revision": COMMIT}
    assert results["model"]["name"] == "org/tiny"
    assert results["config"]["model_args"] == {"attn_implementation": "eager", "low_cpu_mem_usage": True}


def test_model_args_reach_from_pretrained(tiny_model_dir):
    from code_unlearn_bench.models.hf import HFBackend

    b = HFBackend(str(tiny_model_dir), device="cpu", model_args={"attn_implementation": "eager"})
    assert b.model.config._attn_implementation == "eager"
    with pytest.raises(ModelError, match="cannot load model"):
        HFBackend(str(tiny_model_dir), device="cpu", model_args={"attn_implementation": "no-such-kernel"})


def test_model_args_parsing_is_typed():
    assert parse_model_args("attn_implementation=sdpa, trust_remote_code=true,max_loras=4,x=0.5") == {
        "attn_implementation": "sdpa", "trust_remote_code": True, "max_loras": 4, "x": 0.5}
    assert parse_model_args("") == {}
    with pytest.raises(CubError, match="key=value"):
        parse_model_args("sdpa")


def test_model_args_that_have_their_own_flag_are_refused(cub, tiny_model_dir, tmp_path):
    code, _, err = cub("evaluate", "--model", tiny_model_dir, "--output-dir", tmp_path / "r",
                       "--model-args", "dtype=float16")
    assert code == 2 and "use --dtype" in err
