"""`cub attack` input errors: one line, exit 2, before any model is loaded; results-schema output."""

import json

import pytest


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return tiny_model_dir


def one_line_error(result, *needles):
    code, _, err = result
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "error:" in lines[0], err
    for n in needles:
        assert n in lines[0], err


def test_bad_inputs_give_one_line_errors(cub, model, tmp_path):
    o = tmp_path / "o"
    one_line_error(cub("attack"), "required: ATTACK")
    one_line_error(cub("attack", "prefx", "--model", model), "invalid choice: 'prefx'")
    one_line_error(cub("attack", "prefix", "--output-dir", o), "--model is required")
    one_line_error(cub("attack", "prefix", "--model", model), "--output-dir is required")
    one_line_error(cub("attack", "prefix", "--model", tmp_path / "missing", "--output-dir", o), "does not exist")
    one_line_error(cub("attack", "prefix", "--model", model, "--task", "humaneval", "--output-dir", o),
                   "utility task", "attacks target forget tasks")
    one_line_error(cub("attack", "prefix", "--model", model, "--task", "copyrigt", "--output-dir", o),
                   "did you mean 'copyright'")
    one_line_error(cub("attack", "prefix", "--model", model, "--k", "8,x", "--output-dir", o), "--k expects")
    one_line_error(cub("attack", "prefix", "--model", model, "--bits", "8", "--output-dir", o),
                   "unrecognized arguments: --bits")  # another attack's option
    one_line_error(cub("attack", "quant", "--model", model, "--bits", "16", "--output-dir", o), "--bits takes")
    one_line_error(cub("attack", "quant", "--model", model, "--came-back-threshold", "0", "--output-dir", o),
                   "--came-back-threshold")
    one_line_error(cub("attack", "mia", "--model", model, "--min-k", "0", "--output-dir", o), "--min-k")
    one_line_error(cub("attack", "mia", "--model", model, "--task", "deprecated", "--output-dir", o),
                   "no built-in disjoint data", "--holdout-data")
    one_line_error(cub("attack", "prefix", "--model", model, "--utility-results", tmp_path, "--output-dir", o),
                   "needs both --utility-results", "--candidate-results")
    one_line_error(cub("attack", "prefix", "--model", model, "--utility-results", tmp_path / "nope",
                       "--candidate-results", tmp_path / "nope", "--output-dir", o), "no such run")
    one_line_error(cub("attack", "prefix", "--model", model, "--min-utility-share", "1.5", "--output-dir", o),
                   "--min-utility-share")
    one_line_error(cub("attack", "prefix", "--model", model, "--limit", "0", "--output-dir", o), "--limit")
    assert not o.exists() or not any(o.rglob("*.jsonl"))  # nothing was generated


def test_results_follow_the_schema_and_the_dir_is_guarded(cub, model, tmp_path):
    from code_unlearn_bench.results import validate_results

    out = tmp_path / "atk"
    args = ["attack", "prefix", "--model", model, "--limit", "2", "--k", "0,4", "--max-new-tokens", "8",
            "--output-dir", out, "--quiet"]
    code, _, err = cub(*args)
    assert code == 0, err
    res = json.loads((out / "results.json").read_text())
    validate_results(res)
    assert res["kind"] == "attack" and res["attack"]["parameters"] == {"k": [0, 4]}
    task = res["tasks"]["copyright"]
    assert task["attack"]["name"] == "prefix" and set(task["attack"]["settings"]) == {"k=0", "k=4"}
    assert {"forget_quality@k=0", "forget_quality@k=4", "effect_of_attack@k=4"} <= set(task["metrics"])
    # the ranking loader reads evaluate runs only: an attack dir is never mistaken for a model run
    from code_unlearn_bench.errors import CubError
    from code_unlearn_bench.ranking.runs import load_run

    with pytest.raises(CubError, match="attack"):
        load_run(out)

    one_line_error(cub("attack", "quant", "--model", model, "--limit", "2", "--output-dir", out),
                   "different", "--overwrite")
    code, _, err = cub("attack", "prefix", "--model", model, "--limit", "2", "--k", "0,2", "--max-new-tokens", "8",
                       "--output-dir", out, "--overwrite", "--quiet")
    assert code == 0, err
    assert not (out / "settings" / "k=4").exists()  # the replaced attack's settings are gone
    assert set(json.loads((out / "results.json").read_text())["tasks"]["copyright"]["attack"]["settings"]) == \
        {"k=0", "k=2"}


def test_standalone_attack_never_calls_unknown_utility_eligible(cub, model, tmp_path):
    # without the original model's utility run the checkpoint's eligibility cannot be judged:
    # recorded and printed as unknown, never as eligible
    out = tmp_path / "alone"
    code, stdout, err = cub("attack", "prefix", "--model", model, "--limit", "1", "--k", "0", "--max-new-tokens", "4",
                            "--output-dir", out, "--quiet")
    assert code == 0, err
    eligibility = json.loads((out / "results.json").read_text())["attack"]["eligibility"]
    assert eligibility["checked"] is False and eligibility["eligible"] is None
    assert eligibility["reason"].startswith("eligibility unknown") and "--utility-results" in eligibility["reason"]
    assert "eligibility unknown" in stdout.splitlines()[0] and "eligible:" not in stdout
