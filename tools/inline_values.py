"""Write each chapter's computed numbers and its citations into its Markdown as plain text.

    python tools/inline_values.py chapters/*.ipynb            # rewrite the notebooks in place
    python tools/inline_values.py --check chapters/*.ipynb    # exit 1 if one is out of date

Plain Jupyter, Colab and GitHub's notebook viewer show MyST roles as raw text ("reached
{glue:text}`ch3_mc50_acc`"). So the chapters hold the values themselves, each inside a marker that
every renderer shows as just its text, and that this tool can find again:

- a number a cell glued (``cnnlib.book.glue("ch3_mc50_acc", acc)``) reads
  ``<span data-glue="ch3_mc50_acc">0.927</span>``; with a format, ``data-glue="key:.1%"`` (the
  same ``key:format`` as myst_nb's ``{glue:text}`` role, formatted the same way);
- a citation reads ``(<span data-cite="he2016deep">[He et al., 2016](https://arxiv.org/abs/1512.03385)</span>)``:
  author and year from references.bib, linked to the paper's page (its ``url``, arXiv ``eprint``
  or ``doi`` field); one in the sentence (``{footcite:t}``) reads
  ``<span data-citet="he2016deep">[He et al. (2016)](https://arxiv.org/abs/1512.03385)</span>``;
- the chapter's "## References" section is a Markdown list of the works it cites.

Authors write the MyST forms (``{glue:text}`key```, ``{footcite}`key```, a ``{footbibliography}``
fence); this tool turns them into the markers above, and on every later run (tools/execute.py
runs it after executing a chapter) rewrites the markers' text from the notebook's stored outputs
and from references.bib. Running it twice changes nothing. tests/test_prose.py checks that the
committed chapters are what this tool would write.
"""
from __future__ import annotations

import argparse
import html
import re
import sys
from ast import literal_eval
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BIBLIOGRAPHY = ROOT / "references.bib"

GLUE_ROLE = re.compile(r"\{glue(?::(?P<kind>\w*))?\}`(?P<spec>[^`]+)`")
VALUE_MARKER = re.compile(r'<span data-glue="(?P<spec>[^"]+)">(?P<text>.*?)</span>')
CITE_ROLE = re.compile(r"\{footcite(?::(?P<form>\w+))?\}`(?P<keys>[^`]+)`")
CITE_MARKER = re.compile(r'<span data-cite(?P<form>t?)="(?P<keys>[^"]+)">(?P<text>.*?)</span>')
FOOTBIBLIOGRAPHY = re.compile(r"^```\{footbibliography\}[^\n]*\n(?:[^\n]*\n)*?```[ \t]*$", re.M)
REFERENCES = re.compile(r"^## References[ \t]*\n(?P<body>(?:(?!#)[^\n]*(?:\n|\Z))*)", re.M)


class InlineError(ValueError):
    """A role or marker this tool cannot fill in: an unknown key, a glue without text, ..."""


# -- values -------------------------------------------------------------------------------------

def glued_values(nb) -> dict[str, str]:
    """The ``text/plain`` of every value the notebook's code cells glued, by key (as myst_nb reads
    them: display data whose metadata names a ``scrapbook`` key)."""
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            record = output.get("metadata", {}).get("scrapbook")
            if not record:
                continue
            plain = output.get("data", {}).get(record.get("mime_prefix", "") + "text/plain")
            if plain is not None:
                values[record["name"]] = "".join(plain)
    return values


def format_value(plain: str, fmt_spec: str = "") -> str:
    """``plain`` (a ``text/plain`` repr) as myst_nb's ``{glue:text}`key:fmt``` shows it: the
    Python literal read back (so strings lose their quotes), then formatted with ``fmt_spec``,
    whose last letter says to which type (``.3f`` float, ``d`` int, ``s`` string)."""
    try:
        value = literal_eval(plain)
    except (SyntaxError, ValueError):
        value = plain
    if not fmt_spec:
        return str(value)
    kind = fmt_spec[-1]
    if kind == "s":
        value = str(value)
    elif kind in "bcdoxX":
        value = int(value)
    elif kind in "eEfFgGn%":
        value = float(value)
    return format(value, fmt_spec)


def split_spec(spec: str) -> tuple[str, str]:
    """``"key:.3f"`` -> ``("key", ".3f")``; ``"key"`` -> ``("key", "")`` (myst_nb's split)."""
    key, _, fmt_spec = spec.rpartition(":") if ":" in spec else (spec, "", "")
    if "::" in spec:
        raise InlineError(f"glue from another notebook ({spec!r}) is not supported: glue the value "
                          "in this chapter too")
    return key, fmt_spec


def value_text(spec: str, values: dict[str, str]) -> str:
    """The text a marker for ``spec`` ("key" or "key:format") holds, HTML-escaped."""
    key, fmt_spec = split_spec(spec)
    if key not in values:
        raise InlineError(f"no cell glues {key!r}: call cnnlib.book.glue({key!r}, value) in a "
                          "code cell and execute the chapter (tools/execute.py)")
    try:
        return html.escape(format_value(values[key], fmt_spec), quote=False)
    except ValueError as exc:
        raise InlineError(f"cannot format {key!r} = {values[key]!r} with {fmt_spec!r}: {exc}") from None


def inline_values(source: str, values: dict[str, str]) -> str:
    """``source`` with every ``{glue:text}`` role turned into a marker and every marker's text
    set to its value."""
    def role(match):
        if match["kind"] not in (None, "", "text"):
            raise InlineError(f"{match[0]}: only {{glue:text}} values can be written into the text")
        return f'<span data-glue="{match["spec"]}">{value_text(match["spec"], values)}</span>'

    source = GLUE_ROLE.sub(role, source)
    return VALUE_MARKER.sub(
        lambda m: f'<span data-glue="{m["spec"]}">{value_text(m["spec"], values)}</span>', source)


# -- citations ----------------------------------------------------------------------------------

def load_bibliography(path: Path = BIBLIOGRAPHY):
    """references.bib's entries, by key (pybtex, the library sphinxcontrib-bibtex uses); a file
    that is missing or does not parse is an :class:`InlineError` naming it."""
    from pybtex.database import parse_file
    from pybtex.exceptions import PybtexError

    try:
        return parse_file(str(path)).entries
    except PybtexError as err:  # not an OSError or ValueError: would print a traceback
        raise InlineError(f"{path}: cannot read the bibliography ({err})") from err


def plain(latex: str) -> str:
    """BibTeX text (``L{\\'e}on``, ``{ImageNet}``) as plain Unicode."""
    from pybtex.richtext import Text

    return str(Text.from_latex(latex))


def entry(bibliography, key: str):
    if key not in bibliography:
        raise InlineError(f"no entry {key!r} in references.bib: add it there (with a url, eprint "
                          "or doi field)")
    return bibliography[key]


def author_year(item, narrative: bool = False) -> str:
    """"He et al., 2016", "Glorot and Bengio, 2010", "Gabor, 1946"; narrative: "He et al. (2016)"."""
    people = item.persons.get("author", [])
    names = [plain(" ".join(p.prelast_names + p.last_names)) for p in people]
    if len(names) > 2 or "others" in names:
        authors = f"{names[0]} et al."
    else:
        authors = " and ".join(names)
    year = item.fields["year"]
    return f"{authors} ({year})" if narrative else f"{authors}, {year}"


def link(item) -> str:
    """The address a citation links to: the entry's ``url``, else its arXiv page, else its DOI."""
    fields = item.fields
    if "url" in fields:
        return fields["url"]
    if "eprint" in fields and fields.get("archivePrefix", "arXiv").lower() == "arxiv":
        return f"https://arxiv.org/abs/{fields['eprint']}"
    if "doi" in fields:
        return f"https://doi.org/{fields['doi']}"
    raise InlineError(f"references.bib entry {item.key!r} has no url, eprint or doi field: add one "
                      "so that its citations link to the paper")


def cite_text(keys: str, bibliography, narrative: bool = False) -> str:
    """The text of a citation marker: each work's "Author, year" (or "Author (year)"), linked."""
    cited = [entry(bibliography, k.strip()) for k in keys.split(",")]
    return "; ".join(f"[{author_year(item, narrative)}]({link(item)})" for item in cited)


def cite_marker(form: str, keys: str, bibliography) -> str:
    """A citation marker: ``form`` "t" for one read as part of the sentence, "" otherwise."""
    return f'<span data-cite{form}="{keys}">{cite_text(keys, bibliography, form == "t")}</span>'


LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+\.)[ \t]", re.M)


def inside_parentheses(text: str) -> bool:
    """Whether the end of ``text`` (the Markdown up to a citation) is inside an open "(", counted
    from the start of its paragraph or list item."""
    paragraph = text.rsplit("\n\n", 1)[-1]
    item = list(LIST_ITEM.finditer(paragraph))
    paragraph = paragraph[item[-1].start():] if item else paragraph
    return paragraph.count("(") > paragraph.count(")")


def inline_citations(source: str, bibliography) -> str:
    """``source`` with every ``{footcite}`` role turned into an "(Author, year)" marker (without
    the parentheses where the role already stood inside some) and every marker's text renewed."""
    def role(match):
        if match["form"] not in (None, "p", "t"):
            raise InlineError(f"{match[0]}: write {{footcite}} or {{footcite:t}}")
        form = "t" if match["form"] == "t" else ""
        marker = cite_marker(form, match["keys"], bibliography)
        return marker if form or inside_parentheses(source[:match.start()]) else f"({marker})"

    source = CITE_ROLE.sub(role, source)
    return CITE_MARKER.sub(lambda m: cite_marker(m["form"], m["keys"], bibliography), source)


def cited_keys(sources) -> list[str]:
    """The keys the markers in ``sources`` cite, each once, in order of first citation."""
    keys = {}
    for source in sources:
        for match in CITE_MARKER.finditer(source):
            keys.update((k.strip(), None) for k in match["keys"].split(","))
    return list(keys)


def reference(item) -> str:
    """One line of a chapter's reference list: pybtex's ``unsrt`` style (as the book's
    bibliography page), as plain text, then the link."""
    from pybtex.database import Entry
    from pybtex.plugin import find_plugin

    fields = {k: v for k, v in item.fields.items() if k not in ("url", "eprint", "archivePrefix", "doi")}
    bare = Entry(item.type, fields=fields, persons=item.persons)
    bare.key = item.key
    style = find_plugin("pybtex.style.formatting", "unsrt")()
    text = next(iter(style.format_entries([bare]))).text.render_as("text")
    text = re.sub(r"([\\`*_\[\]<>])", r"\\\1", text)  # Markdown would read these as markup
    return f"- {text} [{link_name(item)}]({link(item)})"


def link_name(item) -> str:
    """What a reference's link reads: "arXiv:1512.03385", "doi:10.1109/5.726791" or the site."""
    address = link(item)
    if address.startswith("https://arxiv.org/abs/"):
        return "arXiv:" + address.rsplit("/abs/", 1)[1]
    if address.startswith("https://doi.org/"):
        return "doi:" + address.split("doi.org/", 1)[1]
    return address.split("://", 1)[1].split("/", 1)[0]


def references_section(keys, bibliography) -> str:
    """The body of a chapter's "## References": one line per cited work, by first author's name."""
    items = sorted((entry(bibliography, k) for k in keys), key=lambda i: (author_year(i).lower(), i.key))
    return "\n" + "\n".join(reference(item) for item in items)


def inline_references(source: str, keys, bibliography) -> str:
    """``source`` with the body of its "## References" section (a ``{footbibliography}`` fence
    or an earlier list) replaced by the list of the works the chapter cites."""
    def section(match):
        rest = "\n\n" if match.end() < len(source) else ""  # a blank line before what follows
        return "## References\n" + references_section(keys, bibliography) + rest

    source = REFERENCES.sub(section, source)
    if FOOTBIBLIOGRAPHY.search(source):
        raise InlineError("a {footbibliography} outside a '## References' section: put it under "
                          "that heading, where the list of references is written")
    return source


# -- notebooks ----------------------------------------------------------------------------------

def inline_notebook(nb, bibliography) -> bool:
    """Fill in the notebook's Markdown cells in place; return whether any changed."""
    values = glued_values(nb)
    markdown = [cell for cell in nb.cells if cell.cell_type == "markdown"]
    before = [cell.source for cell in markdown]
    for cell in markdown:
        cell.source = inline_citations(inline_values(cell.source, values), bibliography)
    keys = cited_keys(cell.source for cell in markdown)
    for cell in markdown:
        cell.source = inline_references(cell.source, keys, bibliography)
    return before != [cell.source for cell in markdown]


def inline_file(path: Path, bibliography, write: bool = True) -> bool:
    """Fill in one notebook file; return whether it was (or, without ``write``, would be) changed."""
    nb = nbformat.read(path, as_version=4)
    try:
        changed = inline_notebook(nb, bibliography)
    except InlineError as exc:
        raise InlineError(f"{path}: {exc}") from None
    if changed and write:
        nbformat.write(nb, path)
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if out of date")
    parser.add_argument("--bib", type=Path, default=BIBLIOGRAPHY, help="the BibTeX file (references.bib)")
    args = parser.parse_args(argv)
    bibliography = load_bibliography(args.bib)
    stale = []
    for path in args.notebooks:
        try:
            changed = inline_file(path, bibliography, write=not args.check)
        except InlineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if changed:
            stale.append(path)
            print(f"{path}: {'out of date' if args.check else 'values and citations written'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
