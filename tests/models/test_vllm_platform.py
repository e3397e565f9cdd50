"""vLLM's CPU platform settings that need no engine: KV cache size, platform detection."""

import json

from code_unlearn_bench.models import vllm_platform


def _config(tmp_path, **cfg):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return tmp_path


def test_kv_cache_holds_sixteen_full_sequences_within_a_quarter_of_free_ram(tmp_path, monkeypatch):
    d = _config(tmp_path, num_attention_heads=8, hidden_size=512, num_key_value_heads=2, num_hidden_layers=3)
    per_token = 2 * 3 * 2 * 64 * 4  # K and V, layers, kv heads, head_dim, float32
    assert vllm_platform.kv_token_bytes(d, "float32") == per_token
    assert vllm_platform.kv_token_bytes(d, "bfloat16") == per_token // 2
    monkeypatch.setattr(vllm_platform, "_free_ram", lambda: 1 << 40)
    assert vllm_platform.cpu_kv_cache_bytes(d, "float32", 8192) == per_token * 8192 * 16
    monkeypatch.setattr(vllm_platform, "_free_ram", lambda: 1 << 30)
    assert vllm_platform.cpu_kv_cache_bytes(d, "float32", 8192) == 1 << 28
    assert vllm_platform.cpu_kv_cache_bytes(d, "float32", 16) == 64 << 20  # never below 64 MiB


def test_the_users_kv_cache_size_wins(tmp_path, monkeypatch):
    d = _config(tmp_path, num_attention_heads=2, hidden_size=64, num_hidden_layers=2)
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    assert vllm_platform.cpu_engine_options({"dtype": "float32"}, d, 128)["kv_cache_memory_bytes"] == 64 << 20
    assert vllm_platform.cpu_engine_options({"dtype": "float32", "kv_cache_memory_bytes": 5}, d, 128) == {
        "dtype": "float32", "kv_cache_memory_bytes": 5}
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB, read by vLLM itself
    assert "kv_cache_memory_bytes" not in vllm_platform.cpu_engine_options({"dtype": "float32"}, d, 128)


def test_cpu_build_detected_from_package_metadata(monkeypatch):
    from importlib import metadata

    versions = {"vllm-cpu": "0.32.0"}

    def version(name):
        if name not in versions:
            raise metadata.PackageNotFoundError(name)
        return versions[name]

    monkeypatch.delenv("VLLM_TARGET_DEVICE", raising=False)
    monkeypatch.setattr(vllm_platform.metadata, "version", version)
    assert vllm_platform.built_for_cpu()
    versions.clear()
    versions["vllm"] = "0.32.0"  # the GPU build
    assert not vllm_platform.built_for_cpu()
    versions["vllm"] = "0.32.0+cpu"  # built from source for CPU
    assert vllm_platform.built_for_cpu()
