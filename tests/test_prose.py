"""The chapters' prose reads in plain Jupyter, Colab and GitHub's viewer, not only in the HTML book.

Those show MyST roles as raw text ("reached {glue:text}`ch3_mc50_acc`"), so the chapters hold no
MyST markup; tools/inline_values.py writes each computed value and each citation into the Markdown
inside a marker (``<span data-glue="key">0.927</span>``). These tests tie every such value to the
cell that computed it: its text must be what the notebook's stored outputs glue under its key,
formatted as myst_nb would. (The committed outputs are the full profile's; CI's nbval runs the
fast one and compares outputs, not Markdown.) Then the tool itself, on small notebooks.
"""
import html
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import inline_values  # noqa: E402

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
# What Jupyter, Colab and GitHub show raw: a role ({name}`...`), a directive fence (```{name},
# :::{name}), a MyST target label ((name)=). Math ($...$) renders everywhere and is allowed.
RAW_MYST = re.compile(r"\{[a-z][\w:-]*\}`|^[ \t]*(?:`{3,}|~{3,}|:{3,})[ \t]*\{|^\([\w-]+\)=[ \t]*$", re.M)


def markdown(nb):
    return [(k, cell.source) for k, cell in enumerate(nb.cells) if cell.cell_type == "markdown"]


@pytest.fixture(scope="module")
def bibliography():
    pytest.importorskip("pybtex", reason="pybtex (with jupyter-book) reads references.bib")
    return inline_values.load_bibliography()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_markdown_has_no_myst_markup_that_jupyter_shows_raw(path):
    nb = nbformat.read(path, as_version=4)
    raw = [f"cell {k + 1}: {source[max(0, m.start() - 30):m.end() + 30]!r}"
           for k, source in markdown(nb) for m in RAW_MYST.finditer(source)]
    assert not raw, (f"{path.name}: MyST markup that Jupyter/Colab show as text; write the roles, then "
                     "run `python tools/inline_values.py` on the chapter:\n" + "\n".join(raw))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_value_in_the_prose_is_the_one_its_cell_glued(path):
    # (tests/test_chapters.py checks that the outputs are the full profile's, the book's numbers)
    nb = nbformat.read(path, as_version=4)
    glued = inline_values.glued_values(nb)
    wrong = []
    for k, source in markdown(nb):
        for marker in inline_values.VALUE_MARKER.finditer(source):
            key, fmt_spec = inline_values.split_spec(marker["spec"])
            if key not in glued:
                wrong.append(f"cell {k + 1}: no code cell glues {key!r}")
                continue
            expected = html.escape(inline_values.format_value(glued[key], fmt_spec), quote=False)
            if marker["text"] != expected:
                wrong.append(f"cell {k + 1}: {key!r} reads {marker['text']!r}, its cell glued {expected!r}")
    assert not wrong, (f"{path.name}: run `python tools/inline_values.py {path.relative_to(ROOT)}`:\n"
                       + "\n".join(wrong))


def test_the_chapters_show_computed_values():
    # The check above is only as good as the markers it finds: most chapters state results.
    with_values = [p.name for p in CHAPTERS if inline_values.VALUE_MARKER.search(
        "".join(s for _, s in markdown(nbformat.read(p, as_version=4))))]
    assert len(with_values) >= len(CHAPTERS) - 1, with_values


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_what_the_tool_writes(path, bibliography):
    # Values, citations ("(Author, year)" linked to the paper) and the "## References" list are
    # all as tools/inline_values.py writes them from the outputs and from references.bib.
    nb = nbformat.read(path, as_version=4)
    before = [source for _, source in markdown(nb)]
    inline_values.inline_notebook(nb, bibliography)
    stale = [f"cell {k + 1}" for k, (old, (_, new)) in enumerate(zip(before, markdown(nb), strict=True))
             if old != new]
    assert not stale, (f"{path.name}: {', '.join(stale)} out of date: run "
                       f"`python tools/inline_values.py {path.relative_to(ROOT)}`")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_ends_with_the_works_it_cites(path, bibliography):
    nb = nbformat.read(path, as_version=4)
    sources = [source for _, source in markdown(nb)]
    cited = inline_values.cited_keys(sources)
    assert cited, f"{path.name} cites nothing"
    section = inline_values.REFERENCES.search("\n\n".join(sources))
    assert section, f"{path.name}: no '## References' section"
    entries = [line for line in section["body"].splitlines() if line.startswith("- ")]
    assert len(entries) == len(cited), (path.name, entries, cited)
    for key in cited:
        item = bibliography[key]
        assert any(f"]({inline_values.link(item)})" in line for line in entries), (path.name, key)


def test_every_reference_links_to_its_work(bibliography):
    # A citation in the prose is a link: each entry needs a url, an arXiv eprint or a doi.
    unlinked = []
    for key, item in bibliography.items():
        try:
            inline_values.link(item)
        except inline_values.InlineError:
            unlinked.append(key)
    assert not unlinked, f"references.bib entries without url, eprint or doi: {unlinked}"


# -- the tool, on small notebooks -----------------------------------------------------------------

def glue_output(key, value):
    """A code cell output as cnnlib.book.glue / myst_nb.glue store it (hidden from the page)."""
    prefix = "application/papermill.record/"
    return nbformat.v4.new_output("display_data", data={prefix + "text/plain": repr(value)},
                                  metadata={"scrapbook": {"name": key, "mime_prefix": prefix}})


def notebook(text, **values):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("glue(...)")
    cell.outputs = [glue_output(key, value) for key, value in values.items()]
    nb.cells = [cell, nbformat.v4.new_markdown_cell(text)]
    return nb


BIB = r"""
@article{alpha2014, author = {Alpha, Ann and Beta, Bob and Gamma, Cy}, title = {A Study},
  journal = {J. Tests}, year = {2014}, url = {https://example.org/alpha}}
@inproceedings{beta2015, author = {van der Beta, Bea and Delta, D{\'e}}, title = {{CNNs} in Practice},
  booktitle = {Conf.}, year = {2015}, eprint = {1501.00001}, archivePrefix = {arXiv}}
@article{gamma1946, author = {Gamma, Gil}, title = {Theory}, journal = {Proc.}, year = {1946},
  doi = {10.1000/xyz}}
@article{nolink2000, author = {No, Link}, title = {Lost}, journal = {Nowhere}, year = {2000}}
"""


@pytest.fixture
def bib(tmp_path):
    pytest.importorskip("pybtex", reason="pybtex (with jupyter-book) reads references.bib")
    path = tmp_path / "references.bib"
    path.write_text(BIB)
    return inline_values.load_bibliography(path)


def test_the_tool_reads_what_cnnlib_book_glue_stores(monkeypatch):
    from cnnlib import book

    cell = nbformat.v4.new_code_cell("glue('acc', 0.925)")
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw, metadata: cell.outputs.append(
        nbformat.v4.new_output("display_data", data=bundle, metadata=metadata)))
    book.glue("acc", 0.925)
    book.glue("run", "50,000 images")
    nb = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_markdown_cell("{glue:text}`acc:.1%` on {glue:text}`run`")])
    inline_values.inline_notebook(nb, bibliography={})
    assert nb.cells[1].source == ('<span data-glue="acc:.1%">92.5%</span> on '
                                  '<span data-glue="run">50,000 images</span>')


def test_roles_become_markers_holding_the_formatted_values():
    nb = notebook("Reached {glue:text}`acc:.1%` ({glue:text}`acc`) on {glue:text}`run`, n = {glue:text}`n:,d`.",
                  acc=0.92731, run="2,000 <images>", n=12345)
    assert inline_values.inline_notebook(nb, bibliography={})
    assert nb.cells[1].source == (
        'Reached <span data-glue="acc:.1%">92.7%</span> (<span data-glue="acc">0.92731</span>) on '
        '<span data-glue="run">2,000 &lt;images&gt;</span>, n = <span data-glue="n:,d">12,345</span>.')


def test_markers_follow_new_outputs_and_a_second_run_changes_nothing():
    nb = notebook("Reached {glue:text}`acc:.3f`.", acc=0.5)
    inline_values.inline_notebook(nb, bibliography={})
    nb.cells[0].outputs = [glue_output("acc", 0.75)]  # the chapter was executed again
    assert inline_values.inline_notebook(nb, bibliography={})
    assert nb.cells[1].source == 'Reached <span data-glue="acc:.3f">0.750</span>.'
    assert not inline_values.inline_notebook(nb, bibliography={})


@pytest.mark.parametrize("text, message", [
    ("{glue:text}`missing`", "no cell glues 'missing'"),
    ('<span data-glue="missing">0.5</span>', "no cell glues 'missing'"),
    ("{glue:figure}`acc`", "only {glue:text}"),
    ("{glue:text}`other.ipynb::acc`", "from another notebook"),
    ("{glue:text}`acc:d`", "cannot format 'acc'"),
])
def test_what_cannot_be_filled_in_is_a_clear_error(text, message):
    with pytest.raises(inline_values.InlineError, match=re.escape(message)):
        inline_values.inline_notebook(notebook(text, acc="text"), bibliography={})


@pytest.mark.parametrize("plain, fmt_spec", [("0.92731", ".1%"), ("0.92731", ""), ("'a b'", ""),
                                             ("'a b'", "s"), ("12345", ",d"), ("3", ".2f"), ("-0.5", "+.1f")])
def test_values_are_formatted_as_myst_nb_formats_them(plain, fmt_spec):
    variables = pytest.importorskip("myst_nb.core.variables")
    assert inline_values.format_value(plain, fmt_spec) == variables.format_plain_text(plain, fmt_spec)


def test_citations_become_linked_author_year_text_and_a_reference_list(bib):
    nb = notebook("Dropout {footcite}`alpha2014` works (as {footcite}`beta2015,gamma1946` found);\n"
                  "{footcite:t}`beta2015` agree.\n\n## References\n\n```{footbibliography}\n```")
    inline_values.inline_notebook(nb, bib)
    text, references = nb.cells[1].source.split("## References\n")
    assert text == (
        'Dropout (<span data-cite="alpha2014">[Alpha et al., 2014](https://example.org/alpha)</span>) works '
        '(as <span data-cite="beta2015,gamma1946">[van der Beta and Delta, 2015]'
        '(https://arxiv.org/abs/1501.00001); [Gamma, 1946](https://doi.org/10.1000/xyz)</span> found);\n'
        '<span data-citet="beta2015">[van der Beta and Delta (2015)](https://arxiv.org/abs/1501.00001)</span>'
        ' agree.\n\n')
    lines = references.strip().splitlines()
    assert [line.split(".")[0] for line in lines] == ["- Ann Alpha, Bob Beta, and Cy Gamma",
                                                      "- Gil Gamma", "- Bea van der Beta and Dé Delta"]
    assert lines[0].endswith("[example.org](https://example.org/alpha)")
    assert lines[1].endswith("[doi:10.1000/xyz](https://doi.org/10.1000/xyz)")
    assert "CNNs in practice" in lines[2] and lines[2].endswith(
        "[arXiv:1501.00001](https://arxiv.org/abs/1501.00001)")
    assert not inline_values.inline_notebook(nb, bib)  # idempotent


def test_a_citation_gets_parentheses_unless_it_stands_inside_some(bib):
    nb = notebook("- one (open\n- two {footcite}`gamma1946`\n- (three, {footcite}`gamma1946`)\n\n"
                  "(four\nfive {footcite}`gamma1946`)")
    inline_values.inline_notebook(nb, bib)
    marker = '<span data-cite="gamma1946">[Gamma, 1946](https://doi.org/10.1000/xyz)</span>'
    assert nb.cells[1].source == (f"- one (open\n- two ({marker})\n- (three, {marker})\n\n"
                                  f"(four\nfive {marker})")


def test_citation_markers_and_reference_list_follow_references_bib(tmp_path, bib):
    nb = notebook("As {footcite}`gamma1946` showed.\n\n## References\n\n- an old list\n\n## After")
    inline_values.inline_notebook(nb, bib)
    assert nb.cells[1].source.endswith("(https://doi.org/10.1000/xyz)\n\n## After")
    (tmp_path / "references.bib").write_text(BIB.replace("year = {1946}", "year = {1947}"))
    assert inline_values.inline_notebook(nb, inline_values.load_bibliography(tmp_path / "references.bib"))
    assert "[Gamma, 1947]" in nb.cells[1].source and "Proc., 1947." in nb.cells[1].source
    assert ", 1946" not in nb.cells[1].source


@pytest.mark.parametrize("text, message", [
    ("{footcite}`nolink2000`", "has no url, eprint or doi"),
    ("{footcite}`unknown`", "no entry 'unknown' in references.bib"),
    ("See {footcite}`alpha2014`.\n\n```{footbibliography}\n```", "outside a '## References' section"),
])
def test_citations_that_cannot_be_written_are_clear_errors(bib, text, message):
    with pytest.raises(inline_values.InlineError, match=re.escape(message)):
        inline_values.inline_notebook(notebook(text), bib)


def test_the_command_line_writes_and_checks(tmp_path, bib, capsys):
    path = tmp_path / "chapter.ipynb"
    nbformat.write(notebook("Reached {glue:text}`acc:.1%`.", acc=0.5), path)
    (tmp_path / "references.bib").write_text(BIB)
    args = [str(path), "--bib", str(tmp_path / "references.bib")]
    assert inline_values.main([*args, "--check"]) == 1  # out of date, and left as it was
    assert "{glue:text}" in nbformat.read(path, as_version=4).cells[1].source
    assert inline_values.main(args) == 0
    assert nbformat.read(path, as_version=4).cells[1].source == 'Reached <span data-glue="acc:.1%">50.0%</span>.'
    assert inline_values.main([*args, "--check"]) == 0
    nbformat.write(notebook("{glue:text}`gone`"), path)
    assert inline_values.main(args) == 2
    assert f"{path}: no cell glues 'gone'" in capsys.readouterr().err


def test_executing_a_chapter_renews_the_values_in_its_prose(tmp_path, bib):
    pytest.importorskip("nbclient", reason="tools/execute.py runs notebooks with nbclient")
    import execute

    target = tmp_path / "out" / "chapter.ipynb"
    nb = notebook('Reached <span data-glue="acc:.1%">50.0%</span>.', acc=0.75)  # the new run's outputs
    assert execute.store(nb, target, bib) is None
    assert nbformat.read(target, as_version=4).cells[1].source == 'Reached <span data-glue="acc:.1%">75.0%</span>.'
    # A value no cell glues any more: the run's outputs are kept all the same, and the problem named.
    problem = execute.store(notebook("{glue:text}`gone`", acc=0.75), target, bib)
    assert "no cell glues 'gone'" in problem and str(target) in problem
    stored = nbformat.read(target, as_version=4)
    assert stored.cells[1].source == "{glue:text}`gone`" and stored.cells[0].outputs
