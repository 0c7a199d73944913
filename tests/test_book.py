"""cnnlib.book: glue emits what myst_nb reads, the set-up banner."""
import sys

import pytest
import torch

from cnnlib import book


def test_glue_emits_the_same_bundle_as_myst_nb(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display",
                        lambda bundle, raw, metadata: shown.append((bundle, metadata)))
    book.glue("answer", 42)
    book.glue("seen", "text", display=True)
    (hidden, hidden_meta), (visible, visible_meta) = shown
    assert hidden == {"application/papermill.record/text/plain": "42"}
    assert hidden_meta["scrapbook"] == {"name": "answer", "mime_prefix": "application/papermill.record/"}
    assert visible == {"text/plain": "'text'"} and visible_meta["scrapbook"]["mime_prefix"] == ""


def test_glue_needs_no_myst_nb(monkeypatch):
    # Colab has no myst_nb: importing it there fails, and glue must not need it.
    for name in ("myst_nb", "myst_nb.ext", "myst_nb.ext.glue"):
        monkeypatch.setitem(sys.modules, name, None)  # `import myst_nb` now raises ImportError
    shown = []
    monkeypatch.setattr("IPython.display.display",
                        lambda bundle, raw, metadata: shown.append((bundle, metadata)))
    book.glue("acc", 0.5)
    assert shown == [({"application/papermill.record/text/plain": "0.5"},
                      {"scrapbook": {"name": "acc", "mime_prefix": "application/papermill.record/"}})]


def test_glue_matches_myst_nb_when_it_is_installed(monkeypatch):
    glue_module = pytest.importorskip("myst_nb.ext.glue")
    ours, theirs = [], []
    monkeypatch.setattr("IPython.display.display", lambda b, raw, metadata: ours.append((b, metadata)))
    book.glue("k", 3.5)
    monkeypatch.setattr(glue_module, "ipy_display", lambda b, raw, metadata: theirs.append((b, metadata)))
    glue_module.glue("k", 3.5, display=False)
    assert ours == theirs


def test_setup_prints_one_sentence_for_the_reader(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CNNLIB_PROFILE", "fast")
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "cache"))
    profile = book.setup("Chapter 9")
    out = capsys.readouterr().out
    assert profile.name == "fast"
    assert out == "Chapter 9: the fast profile (small experiments that run in minutes), on a CPU\n"


@pytest.mark.parametrize("data", [True, False])
def test_setup_prints_no_machinery(monkeypatch, capsys, tmp_path, data):
    # The banner is printed on every page of the book: the folders, settings and versions of the
    # machine that ran the chapter are meaningless to a reader (and a path leaks a user name).
    folder = tmp_path / "some-user" / "data"
    if data:
        monkeypatch.setenv("CNNLIB_DATA", str(folder))
    else:
        monkeypatch.delenv("CNNLIB_DATA", raising=False)
    monkeypatch.setenv("CNNLIB_PROFILE", "full")
    monkeypatch.setenv("HOME", str(tmp_path / "some-user"))
    book.setup("Chapter 1")
    out = capsys.readouterr().out
    assert "some-user" not in out and str(tmp_path) not in out, out
    for machinery in ("CNNLIB", "torch", "Python", "threads", "cache", "autocast"):
        assert machinery not in out, out
    assert "the full profile (the experiments at the book's scale)" in out
    assert all(len(line) <= book.BANNER_WIDTH for line in out.splitlines()), out


def test_spread_is_mean_and_sample_std():
    spread = book.spread
    assert spread([0.5, 0.7]) == "0.600 ± 0.141"  # std with n - 1: sqrt(0.02) = 0.1414
    assert spread(torch.tensor([0.25, 0.25, 0.25]), digits=2) == "0.25 ± 0.00"
    assert spread([1, 2, 3, 4]) == "2.500 ± 1.291"  # ints are fine
    assert spread([0.9]) == "0.900"  # one run: no spread to show
    # a Python float is formatted as Python formats it (0.1135 is 0.11349999... in float32)
    assert spread([0.1135]) == f"{0.1135:.3f}" == "0.114"
    assert spread([0.4875, 0.5205, 0.528]) == "0.512 ± 0.022"  # numpy: mean 0.51200, std 0.02157
    with pytest.raises(ValueError, match="at least one run"):
        spread([])


def test_offline_data_notes_print_as_one_line_without_a_path(monkeypatch, capsys, tmp_path):
    import warnings

    from cnnlib.data import OfflineSplitWarning

    others = []  # what the previous showwarning gets: every other warning, unchanged
    monkeypatch.setattr(warnings, "showwarning", lambda message, *args: others.append(message))
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    book.setup("Chapter 3")
    book.setup("Chapter 3")  # a second call installs nothing twice
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        for _ in range(2):  # the same note, e.g. from loading 'train' and then 'test'
            warnings.warn("offline split", OfflineSplitWarning, stacklevel=1)
        warnings.warn("something else", UserWarning, stacklevel=1)
        warnings.warn("word " * 40, OfflineSplitWarning, stacklevel=1)
    captured = capsys.readouterr()
    first, *long_note = captured.out.splitlines()
    assert first == "Note: offline split"
    assert len(long_note) > 1 and all(len(line) <= 79 for line in long_note)
    assert [str(m) for m in others] == ["something else"]
