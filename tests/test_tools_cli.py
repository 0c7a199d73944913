"""tools/cli.py: every tool ends on a user's mistake with one line on stderr and exit status 2,
never a traceback (before, a missing file or a refused network printed the whole stack)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import cli  # noqa: E402


def test_run_turns_a_users_mistake_into_one_line_and_status_2(capsys):
    def refuses(argv):
        raise ValueError(f"the checkpoint {argv[0]} cannot be used")

    assert cli.run(refuses, ["run.pt"]) == 2
    assert capsys.readouterr().err == "error: the checkpoint run.pt cannot be used\n"
    assert cli.run(lambda argv: open("/no/such/file"), None) == 2
    assert "No such file or directory" in capsys.readouterr().err


def test_run_passes_the_status_on_and_keeps_the_traceback_of_a_bug():
    assert cli.run(lambda argv: 1) == 1
    assert cli.run(lambda argv: {"a result": 1}) == 0  # a main that returns its result
    with pytest.raises(ZeroDivisionError):
        cli.run(lambda argv: 1 / 0)


def run_tool(*args):
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("tool", ["format_notebooks.py", "execute.py", "inline_values.py"])
def test_the_notebook_tools_name_a_file_that_is_not_a_notebook_in_one_line(tool, tmp_path):
    if tool == "inline_values.py":  # it reads the bibliography with pybtex, part of the book's
        pytest.importorskip("pybtex")  # stack (jupyter-book), not of Colab's (make colab-check)
    for path, words in ((tmp_path / "missing.ipynb", "No such file or directory"),
                        (tmp_path / "text.ipynb", "does not appear to be JSON")):
        if path.name == "text.ipynb":
            path.write_text("not json")
        result = run_tool(ROOT / "tools" / tool, path)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and words in result.stderr
        assert result.stderr.count("\n") == 1


def test_inline_values_names_a_bibliography_it_cannot_read_in_one_line(tmp_path):
    pytest.importorskip("pybtex")  # the book's stack, not Colab's
    (tmp_path / "chapter.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, '
                                            '"nbformat_minor": 5}')
    result = run_tool(ROOT / "tools" / "inline_values.py", "--bib", tmp_path / "missing.bib",
                      tmp_path / "chapter.ipynb")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"error: {tmp_path / 'missing.bib'}: cannot read the bibliography")
    assert result.stderr.count("\n") == 1


def test_train_weights_says_what_is_missing_in_one_line(tmp_path):
    result = run_tool(ROOT / "tools" / "train_weights.py", "--reevaluate", "resnet18",
                      "--out", tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: resnet18 is not in {tmp_path / 'MANIFEST.json'}: train it with `make weights "
        "NET=resnet18`"]
