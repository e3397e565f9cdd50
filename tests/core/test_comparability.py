"""The comparability key: a pure function of one task's section of results.json."""

from __future__ import annotations

import copy

from code_unlearn_bench import comparability
from code_unlearn_bench.ranking import synthetic


def section(**generation):
    res = synthetic.task_result("copyright", 0.8)
    res["generation"] = {"max_new_tokens": 1024, "stop": [], "temperature": 0.0, "top_p": 1.0, "seed": 1,
                         "num_samples": 1, "max_total_tokens": 1024, **generation}
    res["options"] = {"protocol": "reference", "max_chars": None}
    return res


def test_key_covers_every_setting_that_changes_a_score():
    base = section()
    assert comparability.mismatch(base, copy.deepcopy(base)) == ""
    changes = {
        "version": lambda r: r["task"].update(version="2.0"),
        "data_hash": lambda r: r["task"].update(data_hash=synthetic.sha256("x")),
        "n": lambda r: r["task"].update(n=2),
        "generation.max_new_tokens": lambda r: r["generation"].update(max_new_tokens=3),
        "generation.stop": lambda r: r["generation"].update(stop=["\n"]),
        "generation.temperature": lambda r: r["generation"].update(temperature=0.8),
        "generation.top_p": lambda r: r["generation"].update(top_p=0.95),
        "generation.num_samples": lambda r: r["generation"].update(num_samples=5),
        "generation.apply_chat_template": lambda r: r["generation"].update(apply_chat_template=True),
        "generation.system_prompt": lambda r: r["generation"].update(system_prompt="You are a coder."),
        "generation.max_total_tokens": lambda r: r["generation"].pop("max_total_tokens"),
        "options.protocol": lambda r: r["options"].update(protocol="reference-truncated"),
        "analyzer": lambda r: r["protocol"].update(analyzer="other"),
    }
    for setting, change in changes.items():
        other = copy.deepcopy(base)
        change(other)
        diff = comparability.mismatch(base, other)
        assert diff.startswith(setting + " "), (setting, diff)
        assert ";" not in diff  # exactly that setting
    # the seed and machine-level detail are not in the key
    other = copy.deepcopy(base)
    other["generation"]["seed"] = 99
    other["timings"] = {"generation_s": 5.0}
    other["protocol"]["sandbox"] = "docker"
    assert comparability.mismatch(base, other) == ""


def test_absent_chat_settings_read_as_off_and_written_key_is_checked():
    old = section()  # a file written before the chat-template fields existed
    new = section(apply_chat_template=False, system_prompt=None)
    assert comparability.mismatch(old, new) == ""
    new["comparability"] = comparability.record(new)
    assert new["comparability"]["hash"].startswith("sha256:")
    assert comparability.written_mismatch(new) == ""
    new["options"]["protocol"] = "cyberseceval"
    assert comparability.written_mismatch(new) == ("written comparability key differs from the recorded settings: "
                                                   'options.protocol "reference" (written) vs "cyberseceval" '
                                                   "(recorded)")
    several = comparability.mismatch(section(max_new_tokens=3), section(temperature=0.8))
    assert several == "generation.max_new_tokens 3 vs 1024; generation.temperature 0.0 vs 0.8"


def test_every_task_declares_canonical_settings_that_a_default_run_has():
    import dataclasses

    import pytest

    from code_unlearn_bench.errors import CubError
    from code_unlearn_bench.tasks.spec import _parse_spec, list_tasks

    for task in list_tasks():
        assert task.canonical, f"task spec {task.name} declares no canonical settings"
        # the declared block only restates defaults: a plain `cub evaluate` run is canonical
        assert task.canonical_settings() == dataclasses.replace(task, canonical={}).canonical_settings(), task.name
    spec = "name: t\nversion: 1\nkind: forget\nloader: copyright\nanalyzer: copyright_bleu\n"
    with pytest.raises(CubError, match="canonical/execution option 'protocl' is not a declared option"):
        _parse_spec("t.yaml", spec + "analyzer_options: {protocol: reference}\ncanonical: {options: {protocl: x}}\n")
    with pytest.raises(CubError, match="num_samples > 1 needs a temperature > 0"):
        _parse_spec("t.yaml", spec + "generation: {num_samples: 5}\n")


def test_a_key_written_before_a_field_existed_is_not_an_edit():
    res = section()
    res["comparability"] = comparability.record(res)
    del res["comparability"]["key"]["generation"]["system_prompt"]  # an older writer's key
    res["comparability"]["hash"] = "sha256:" + "0" * 64
    assert comparability.written_mismatch(res) == ""
    res["comparability"] = comparability.record(res)
    res["comparability"]["hash"] = "sha256:" + "0" * 64
    assert comparability.written_mismatch(res) == "written comparability hash is not the hash of its key"
