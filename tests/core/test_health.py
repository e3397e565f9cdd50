from __future__ import annotations

from code_unlearn_bench.evaluation.health import diagnose, longest_repeat_run, parses_as_python, tokens


def test_garbage_model_is_exposed():
    healthy = ["    return sorted(set(xs))\n", "    total = 0\n    for x in xs:\n        total += x\n    return total\n"]
    garbage = ["", "   \n", "return x\n" * 30, ")))( def def :::\n    ]"]
    good, bad = diagnose(healthy), diagnose(garbage)
    assert good["empty"]["value"] == 0 and bad["empty"]["value"] == 0.5
    assert good["non_parsing_python"]["value"] == 0
    assert bad["non_parsing_python"]["value"] == 0.25  # empties count as parsing; they show in "empty"
    assert bad["repetitive"]["value"] == 0.25 and good["repetitive"]["value"] == 0
    assert bad["distinct_2"]["value"] < good["distinct_2"]["value"]
    assert good["n"] == 2 and good["empty"]["higher_is_better"] is False


def test_longest_repeat_run():
    assert longest_repeat_run(tokens("a b c d")) == 0
    assert longest_repeat_run(tokens("a a a")) == 3
    assert longest_repeat_run(tokens("x = 1\nx = 1\nx = 1\nz")) == 9
    assert longest_repeat_run(tokens("f ( a ) f ( b )")) == 0


def test_lenient_parse_of_continuations():
    assert parses_as_python('"""\n    return a + b\n')  # first line continues the prompt's docstring
    assert parses_as_python("    if x:\n        return 1\n    return 2\n")  # an indented body
    assert parses_as_python("    y = sorted(y)\n    return [x for x in y if x >", "def f(y):\n")  # cut by the budget
    assert not parses_as_python("def f(:\n    return (]\nelse else\n")
    # with a prompt, the continuation is checked in place
    assert parses_as_python("a + b\n", "def f(a, b):\n    return ")


def test_parse_check_only_for_python():
    out = diagnose(["int main( {", "int main( {"], languages=["c", "python"])
    assert out["non_parsing_python"]["n"] == 1
