"""Full-weight fingerprint: every byte counts, digests cached by (path, size, mtime_ns)."""

import os
import shutil

from code_unlearn_bench.models import fingerprint as fp
from code_unlearn_bench.models.loading import fingerprint, resolve_model


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_a_changed_middle_byte_changes_the_fingerprint(tiny_model_dir, tmp_path):
    copy = _copy(tiny_model_dir, tmp_path / "copy")
    before = fingerprint(resolve_model(str(copy)))
    assert before == fingerprint(resolve_model(str(tiny_model_dir)))  # location does not matter
    weights = copy / "model.safetensors"
    size = weights.stat().st_size
    with weights.open("r+b") as f:  # flip one byte in the middle of the tensor data, size unchanged
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0x01]))
    assert weights.stat().st_size == size
    assert fingerprint(resolve_model(str(copy))) != before


def test_digests_are_cached_and_revalidated_by_mtime(tiny_model_dir, tmp_path, monkeypatch):
    copy = _copy(tiny_model_dir, tmp_path / "copy")
    weights = copy / "model.safetensors"
    first = fp.file_sha256(weights)
    reads = []
    real_open = type(weights).open

    def counting_open(self, *a, **kw):
        if self.suffix == ".safetensors":
            reads.append(self.name)
        return real_open(self, *a, **kw)

    monkeypatch.setattr(type(weights), "open", counting_open)
    assert fp.file_sha256(weights) == first and reads == []  # served from the cache
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    reads.clear()
    assert fp.file_sha256(weights) != first and reads == ["model.safetensors"]


def test_fingerprint_covers_adapter_and_base(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
                           LoraConfig(r=2, target_modules=["q_proj"]))
    model.save_pretrained(tmp_path / "adapter")
    base_copy = _copy(tiny_model_dir, tmp_path / "base")
    adapter = resolve_model(str(tmp_path / "adapter"))
    with_orig = fingerprint(adapter)
    from dataclasses import replace

    assert fingerprint(replace(adapter, base_path=base_copy)) == with_orig
    (base_copy / "config.json").write_text((base_copy / "config.json").read_text().replace("64", "65", 1))
    assert fingerprint(replace(adapter, base_path=base_copy)) != with_orig
