"""tools/syllabus.py: the syllabus page's tables are the chapters' own exercises and points."""
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import syllabus  # noqa: E402


def test_the_committed_page_is_what_the_tool_writes():
    assert syllabus.render(syllabus.PAGE.read_text(), syllabus.all_facts()) == \
        syllabus.PAGE.read_text(), "python tools/syllabus.py"


def test_the_page_is_in_the_books_table_of_contents():
    assert "- file: syllabus" in (ROOT / "_toc.yml").read_text()


def test_its_points_are_the_readmes_points_table():
    """Two places state the points of each chapter; they are read from the same cells."""
    facts = syllabus.all_facts()
    readme = (ROOT / "README.md").read_text()
    for number, chapter in facts.items():
        row = re.search(rf"^\| {number} [^|]+\| (\d+) \| ([\d + ]+) \| (\d+) \|$", readme, re.M)
        assert row, f"README's points table has no row for chapter {number}"
        assert int(row[1]) == len(chapter["points"]) and int(row[3]) == sum(chapter["points"])


def test_every_exercise_has_a_kind_and_assesses_an_outcome(monkeypatch):
    facts = syllabus.all_facts()
    syllabus.check_data(facts)  # as committed
    monkeypatch.setitem(syllabus.KINDS, 3, syllabus.KINDS[3][:-1])
    with pytest.raises(syllabus.SyllabusError, match="chapter 3 has 5 graded exercises but KINDS"):
        syllabus.check_data(facts)


def test_an_outcome_naming_a_missing_exercise_is_an_error(monkeypatch):
    facts, outcomes = syllabus.all_facts(), syllabus.OUTCOMES
    monkeypatch.setattr(syllabus, "OUTCOMES", [*outcomes, (7, "x", [4])])
    with pytest.raises(syllabus.SyllabusError, match="exercise 7.4, which chapter 7 does not"):
        syllabus.check_data(facts)
    monkeypatch.setattr(syllabus, "OUTCOMES", [o for o in outcomes if o[0] != 12])
    with pytest.raises(syllabus.SyllabusError, match="exercise 12.1 assesses no outcome"):
        syllabus.check_data(facts)


def test_a_page_without_its_markers_is_refused():
    with pytest.raises(syllabus.SyllabusError, match="lost its markers"):
        syllabus.render("# Syllabus\n", syllabus.all_facts())


def test_at_least_half_the_points_go_to_thinking_exercises():
    facts = syllabus.all_facts()
    every = sum(sum(c["points"]) for c in facts.values())
    thinking = sum(facts[n]["points"][e] for n, kinds in syllabus.KINDS.items()
                   for e, kind in enumerate(kinds) if kind in syllabus.THINKING)
    assert thinking >= every / 2, f"{thinking} of {every} points"
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"carry {thinking} of the {every} points" in readme, "README's 'A course on the book'"
