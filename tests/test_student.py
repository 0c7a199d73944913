"""The student edition (tools/student.py, `make student`): no solution leaks, and the stubs fail cleanly.

Static checks, on every chapter in chapters/: no line of any solution or hidden test is left
anywhere in the student edition (sources or outputs, worked examples included), no marker is
left, every solution became nbgrader's stub at its indentation, pasting the solutions and hidden
tests back gives the chapter's cells again, the stubbed cells and their check cells have no stored
outputs, every exercise carries nbgrader's metadata and the raises-exception tags, and no answer
value is written in a released exercise.

Execution, also on every chapter, but only of the part that the exercises need: in one kernel with
the fast profile, each chapter runs its set-up cells, its answer and check cells, every later cell
that uses a name an answer defines, and the earlier cells those need (found by a def-use analysis
of the cells' code; a training experiment the exercises do not use is left out). First with the stubs:
the only errors allowed are the stubs' NotImplementedError, and every check cell must print
"not done yet". Then the cells from the first answer on again, with the solutions pasted back:
every check must print ✔. A check raises AssertionError when the answer is wrong or missing, so
the stubbed run may fail in the tagged cells only, and each check says "not done yet". A check
cell of parts (cnnlib.exercises.Parts) prints each part's verdict and shows its score; it raises
only when no part is right, so a wrong answer there may cost only its part's points.
The rest of each chapter is what nbval runs on the full chapter (`make notebooks`); executing
every student edition whole would cost as much again.
"""
import ast
import io
import keyword
import builtins
import copy
import importlib.util
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import nbformat
import pytest
from exercise_answers import ANSWERS, FORMULAS, WRONG

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))

_spec = importlib.util.spec_from_file_location("student", ROOT / "tools" / "student.py")
student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(student)

REGION = re.compile(r"^[^\n]*### BEGIN SOLUTION.*?### END SOLUTION[^\n]*", re.S | re.M)
HIDDEN = re.compile(r"\n?[^\n]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[^\n]*", re.S)
STUB = re.compile(r"^([ \t]*)# YOUR CODE HERE\n\1raise NotImplementedError\(\)", re.M)
TEXT_STUB = re.compile(r"^([ \t]*)YOUR ANSWER HERE", re.M)  # a Markdown answer's (an open task's)
VERDICT = re.compile(r"^[✔✘…] .*", re.M)


def read(path):
    return nbformat.read(path, as_version=4)


def is_solution(cell):
    return cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source


def check_cells(nb):
    """Index of the code cell right after each solution cell (the chapters' convention)."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    return {code[k + 1] for k, i in enumerate(code[:-1]) if is_solution(nb.cells[i])}


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def output_text(cell):
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts += [v if isinstance(v, str) else str(v) for v in out.get("data", {}).values()]
        parts += out.get("traceback", [])
    return "\n".join(parts)


# ---------------------------------------------------------------- the tool, on hand-made cells

def test_stub_is_nbgraders_at_the_indentation_of_the_marker():
    source = ("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n\n"
              "### BEGIN SOLUTION\nanswer = f(2)\n### END SOLUTION\nprint('kept')\n")
    stubbed, removed = student.stub_source(source)
    assert stubbed == ("def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\n"
                       "# YOUR CODE HERE\nraise NotImplementedError()\nprint('kept')\n")
    assert removed == ["    return x + y", "answer = f(2)"]
    assert student.stub_source("print(1)\n") == ("print(1)\n", [])


@pytest.mark.parametrize("source", ["### BEGIN SOLUTION\nx = 1\n",
                                    "x = 1\n### END SOLUTION\n",
                                    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n"])
def test_unbalanced_markers_are_an_error(source):
    with pytest.raises(ValueError, match="SOLUTION"):
        student.stub_source(source)


def test_hidden_tests_are_removed_as_nbgrader_removes_them():
    source = "check(a)\n### BEGIN HIDDEN TESTS\ncheck(b, 5)\n### END HIDDEN TESTS"
    assert student.strip_hidden_tests(source) == ("check(a)", ["check(b, 5)"])
    source = "x = 1\n    ### BEGIN HIDDEN TESTS\n    y\n    ### END HIDDEN TESTS\nz\n"
    assert student.strip_hidden_tests(source) == ("x = 1\nz\n", ["    y"])
    assert student.strip_hidden_tests("print(1)\n") == ("print(1)\n", [])
    with pytest.raises(ValueError, match="HIDDEN TESTS"):
        student.strip_hidden_tests("### BEGIN HIDDEN TESTS\ncheck(b, 5)\n")


def test_edition_stubs_tags_and_clears_only_answers_and_their_checks():
    v4 = nbformat.v4
    test_meta = {"nbgrader": {"grade": True, "grade_id": "ex1_check", "points": 1, "locked": True}}
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("x = 1", execution_count=1, outputs=[v4.new_output("stream", text="1\n")]),
        v4.new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"),
        v4.new_code_cell("### BEGIN SOLUTION\ny = 2\n### END SOLUTION", execution_count=2,
                         metadata={"tags": ["solution", "hide-cell"]}),
        v4.new_markdown_cell("The check:"),
        v4.new_code_cell("check('y', lambda: y, 2)\n### BEGIN HIDDEN TESTS\ncheck('y', y, 2)\n### END HIDDEN TESTS",
                         execution_count=3, metadata=test_meta,
                         outputs=[v4.new_output("stream", text="✔ y: correct.\n")]),
        v4.new_code_cell("print(x)", execution_count=4, outputs=[v4.new_output("stream", text="1\n")]),
        v4.new_code_cell("check('z', 1, 1)", execution_count=5, metadata=test_meta,
                         outputs=[v4.new_output("stream", text="✔ z: correct.\n")]),
    ])
    out = student.student_edition(nb)
    assert [c.source for c in out.cells] == [
        "x = 1", "Why?\nYOUR ANSWER HERE",
        "# YOUR CODE HERE\nraise NotImplementedError()", "The check:",
        "check('y', lambda: y, 2)", "print(x)", "check('z', 1, 1)"]
    assert out.cells[2].metadata.tags == ["solution", "hide-cell", "raises-exception"]
    assert out.cells[4].metadata.tags == out.cells[6].metadata.tags == ["raises-exception"]
    assert out.cells[4].metadata.nbgrader == test_meta["nbgrader"], "nbgrader's metadata is kept"
    assert [(c.execution_count, len(c.outputs)) for c in out.cells if c.cell_type == "code"] == [
        (1, 1), (None, 0), (None, 0), (4, 1), (None, 0)]
    assert "### BEGIN SOLUTION\ny = 2" in nb.cells[2].source, "the input notebook is not modified"
    assert "HIDDEN" in nb.cells[4].source


def test_make_student_writes_every_chapter(tmp_path, capsys):
    assert student.main([str(p) for p in CHAPTERS] + ["--out", str(tmp_path)]) == 0
    written = sorted(tmp_path.glob("*.ipynb"))
    assert [p.name for p in written] == [p.name for p in CHAPTERS]
    for path in written:
        nbformat.validate(read(path))
    assert f"{len(CHAPTERS)} notebooks" in capsys.readouterr().out


def statements(region: str) -> list[str]:
    """The statements (logical lines) of a solution or hidden-test region, markers and comments
    left out; physical lines where the region is not complete code on its own."""
    body = textwrap.dedent("\n".join(region.strip().splitlines()[1:-1]))
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(body + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]
    found, current = [], []
    for token in tokens:
        if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            if current:
                found.append(" ".join(current))
            current = []
        elif token.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            current.append(token.string)
    return found


def _bare_syntax(statement: str) -> bool:
    """A statement of keywords and punctuation only (``else :``, ``try :``, ``pass``): in every
    program, so it gives nothing away."""
    return all(keyword.iskeyword(token) or not any(ch.isalnum() for ch in token)
               for token in statement.split())


# ---------------------------------------------------------------- static checks, every chapter

@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_solution_or_hidden_test_text_leaks(path):
    nb = read(path)
    edition = student.student_edition(nb)
    shown = "\n".join([c.source for c in edition.cells] + [output_text(c) for c in edition.cells])
    solutions = [m.group(0) for c in nb.cells for m in REGION.finditer(c.source)]
    hidden = [m.group(0) for c in nb.cells for m in HIDDEN.finditer(c.source)]
    assert solutions, "a chapter has exercises"
    # Not even in a worked example or in the prose: a solution line anywhere in the released
    # chapter gives the answer away (the issue: ch 4's worked example held ex 1's solution line).
    # Compared as whole statements without spaces, so that a statement the formatter spread over
    # several lines is not matched by its fragments (a lone ")" is in every chapter).
    squeezed = "".join(shown.split())
    lines = {line for text in solutions + hidden for line in statements(text)
             if not _bare_syntax(line)}
    leaked = sorted(line for line in lines if "".join(line.split()) in squeezed)
    assert not leaked, f"solution or hidden-test lines in the student edition: {leaked}"
    for marker in ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"):
        assert marker not in shown
    markdown = [m.group(0) for c in nb.cells if c.cell_type == "markdown" for m in REGION.finditer(c.source)]
    assert len(STUB.findall(shown)) == len(solutions) - len(markdown)
    assert len(TEXT_STUB.findall(shown)) == len(markdown)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_pasting_the_solutions_back_gives_the_chapter(path):
    nb = read(path)
    edition = student.student_edition(nb)
    assert len(edition.cells) == len(nb.cells)
    for original, stubbed in zip(nb.cells, edition.cells):
        regions = iter(REGION.findall(original.source))
        stub = STUB if original.cell_type == "code" else TEXT_STUB
        restored = stub.sub(lambda m, regions=regions: next(regions), stubbed.source)
        assert restored == HIDDEN.sub("", original.source)
        assert next(regions, None) is None


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_answer_and_check_cells_carry_no_stored_outputs(path):
    nb = read(path)
    edition = student.student_edition(nb)
    checks = check_cells(nb)
    assert len(checks) == sum(map(is_solution, nb.cells))
    for i, (original, cell) in enumerate(zip(nb.cells, edition.cells)):
        if is_solution(original) or i in checks:
            assert "raises-exception" in cell.metadata.tags
            assert cell.outputs == [] and cell.execution_count is None
        elif cell.cell_type == "code":
            assert cell.outputs == original.outputs and cell.metadata == original.metadata


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_exercise_is_an_nbgrader_exercise(path):
    nb = read(path)
    answers = [i for i, c in enumerate(nb.cells) if is_solution(c)]
    ids = []
    for i in answers:
        answer, test = nbgrader_meta(nb.cells[i]), nbgrader_meta(nb.cells[i + 1])
        assert answer.get("solution") is True and answer.get("grade") is False, f"cell {i}"
        assert test.get("grade") is True and test.get("solution") is False and test.get("locked") is True
        assert isinstance(test.get("points"), int) and test["points"] >= 1
        assert "HIDDEN TESTS" in nb.cells[i + 1].source or "### BEGIN" not in nb.cells[i + 1].source
        ids += [answer["grade_id"], test["grade_id"]]
        for cell in (nb.cells[i], nb.cells[i + 1]):
            assert "raises-exception" in cell.metadata.get("tags", []), "the released chapter must run on"
    # an open task is one cell: a Markdown answer graded by hand (its rubric: instructor/solutions.md)
    manual = [c for c in nb.cells if c.cell_type == "markdown" and "nbgrader" in c.metadata]
    for cell in manual:
        meta = nbgrader_meta(cell)
        assert meta.get("solution") is True and meta.get("grade") is True and meta.get("points", 0) >= 1
        assert student.solution_regions(cell.source), "its text is between the solution markers"
        ids.append(meta["grade_id"])
    assert len(set(ids)) == len(ids), "grade_id must be unique in a notebook"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", grade_id) for grade_id in ids)
    # the other cells are not nbgrader cells: nbgrader would lock or grade them
    assert sum("nbgrader" in c.metadata for c in nb.cells) == 2 * len(answers) + len(manual)




def _token(value):
    return re.compile(rf"(?<![\w.]){re.escape(str(value))}(?![\w.])")


def _expected_arguments(source, name):
    """The expected-value argument of each ``check("name", answer, expected)`` call in ``source``
    (or ``parts.check(...)``, in a check cell of parts)."""
    return [node.args[2] for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and len(node.args) == 3
            and (getattr(node.func, "id", None) == "check" or getattr(node.func, "attr", None) == "check")
            and isinstance(node.args[0], ast.Constant) and node.args[0].value == name]


def _shows(node, value):
    """True if ``node`` is an expression of literals only (``853``, ``5 * 5 * 48 * 256``,
    ``1 - 18 / 25``) that equals ``value``: the answer written down."""
    if any(isinstance(sub, (ast.Name, ast.Call, ast.Attribute)) for sub in ast.walk(node)):
        return False  # computed by an oracle in the cell
    return abs(eval(compile(ast.Expression(node), "<check>", "eval")) - value) <= 1e-9 * abs(value)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_answer_value_in_the_released_exercises(path):
    nb = read(path)
    edition = student.student_edition(nb)
    answers = [i for i, c in enumerate(nb.cells) if is_solution(c)]
    exercise_text = "\n".join(edition.cells[k].source for i in answers for k in (i - 1, i, i + 1))
    tests = "\n".join(edition.cells[i + 1].source for i in answers)
    for formula in FORMULAS:
        assert formula not in exercise_text
    for name, value in ANSWERS.get(path.name[:2], {}).items():
        expected = _expected_arguments(tests, name)
        assert expected, f"no visible check of {name}"
        for node in expected:
            assert not _shows(node, value), f"the check of {name} shows its value: {ast.unparse(node)}"
        if len(str(value)) >= 3:  # a distinctive value: nowhere in the exercise's cells
            assert not _token(value).search(exercise_text), f"{name}'s value {value} is in the released exercise"


def test_the_answer_grep_finds_a_literal():
    for shown, value in (("853", 853), ("5 * 5 * 48 * 256", 307_200), ("1 - 18 / 25", 0.28)):
        [node] = _expected_arguments(f'check("a", lambda: a, {shown})', "a")
        assert _shows(node, value)
    [node] = _expected_arguments('check("a", lambda: a, round(n * math.log10(2)))', "a")
    assert not _shows(node, 853)
    [node] = _expected_arguments('check("a", lambda: f(a)[-1], 2)', "a")
    assert not _shows(node, 36)
    assert _token(853).search("x = 853\n") and not _token(85).search("853") and not _token(0.28).search("0.285")


# ---------------------------------------------------------------- execution, the exercises' part

_IPYTHON_NAMES = {"get_ipython", "display", "In", "Out", "exit", "quit"}
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _module_level(node):
    """The nodes of ``node`` outside nested scopes (function, class, lambda, comprehension bodies)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if not isinstance(current, _SCOPES):
            stack += ast.iter_child_nodes(current)


def _free_names(node):
    """Names ``node`` reads that it does not bind itself (parameters, local variables)."""
    loads, bound = set(), set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (loads if isinstance(sub.ctx, ast.Load) else bound).add(sub.id)
        elif isinstance(sub, ast.arg):
            bound.add(sub.arg)
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub is not node:
            bound.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in sub.names)
    return loads - bound


class CellNames:
    """What one cell reads from earlier cells, binds, imports and may mutate (approximately)."""

    def __init__(self, source):
        from IPython.core.inputtransformer2 import TransformerManager

        self.reads, self.binds, self.imports, self.touches = set(), set(), set(), set()
        try:
            tree = ast.parse(TransformerManager().transform_cell(source))
        except SyntaxError:
            return
        for stmt in tree.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
                reads = _free_names(stmt.value)
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    reads |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)
                              and (isinstance(n.ctx, ast.Load) or isinstance(stmt, ast.AugAssign))}
            else:
                reads = _free_names(stmt)
            self.reads |= reads - self.binds
            for node in _module_level(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                    self.binds.add(node.id)
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    self.binds.add(node.name)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = {(a.asname or a.name).split(".")[0] for a in node.names}
                    self.binds |= names
                    self.imports |= names
                elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
                    self.touches |= {n.id for n in ast.walk(node.value) if isinstance(n, ast.Name)}
                elif isinstance(node, ast.Call):  # x.method(...) or f(x): x may change
                    if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                        self.touches.add(node.func.value.id)
                    self.touches |= {a.id for a in [*node.args, *(k.value for k in node.keywords)]
                                     if isinstance(a, ast.Name)}
        self.reads -= set(dir(builtins)) | _IPYTHON_NAMES


def exercise_part(nb):
    """Indices of the cells the exercises need, in order (see the module docstring)."""
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    names = {i: CellNames(nb.cells[i].source) for i in code}
    answers = [i for i in code if is_solution(nb.cells[i])]
    setup = {code[0]} | {i for i in code if "book.setup(" in nb.cells[i].source}
    # Modules, and what the set-up cells bind (the profile), are not changed by later cells.
    fixed = set().union(*(n.imports for n in names.values()), *(names[i].binds for i in setup))

    def last_binder(name, i):
        return max((k for k in code if k < i and name in names[k].binds), default=None)

    targets = {*setup, *answers, *check_cells(nb)}
    targets |= {i for i in code if any(last_binder(name, i) in answers for name in names[i].reads)}
    chosen, work = set(targets), list(targets)
    while work:
        i = work.pop()
        for name in names[i].reads:
            binder = last_binder(name, i)
            if binder is None:
                continue
            needed = {binder}
            if name not in fixed:
                needed |= {k for k in code if binder < k < i and name in names[k].touches}
            for k in needed - chosen:
                chosen.add(k)
                work.append(k)
    return sorted(chosen)


def test_exercise_part_follows_definitions_and_mutations():
    v4 = nbformat.v4
    cells = ["import sys", "import torch\nfrom torch import nn\nprofile = setup()\ncnnlib.book.setup()",
             "net = nn.Linear(2, 2)", "big = torch.zeros(10**9)\nf = 'a filter bank'",
             "print(len(f), profile.pick(fast=1, full=2))", "fit(net, data)", "net.eval()\nW = 5",
             "def f(x):\n    ### BEGIN SOLUTION\n    return x * W\n    ### END SOLUTION",
             "check('f', f, net)", "print(W)", "print(f(1))"]
    nb = v4.new_notebook(cells=[v4.new_code_cell(s) for s in cells])
    # Not needed: 3 (big, and an older `f`), 4 (reads that older `f`), 9 (W is not an answer).
    # `data` is never defined, so nothing more is pulled in.
    assert exercise_part(nb) == [0, 1, 2, 5, 6, 7, 8, 10]

    names = CellNames("def f(x):\n    y = g(x)\nif True:\n    def h(): pass\nz = [a for a in b]\n%matplotlib inline")
    assert (names.binds, names.reads, names.touches) == ({"f", "h", "z"}, {"g", "b"}, set())


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run the exercises' part of every chapter, stubbed, solved, then solved but for one wrong
    answer (exercise_answers.WRONG), in one kernel (fast profile)."""
    from nbclient import NotebookClient

    v4 = nbformat.v4
    run = v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                   "language": "python"}})
    for path in CHAPTERS:
        nb = read(path)
        edition = student.student_edition(nb)
        part = exercise_part(nb)
        first_answer = next((i for i in part if is_solution(nb.cells[i])), len(nb.cells))
        checks = check_cells(nb)
        run.cells.append(v4.new_code_cell("%reset -f", metadata={"run": {"chapter": path.name}}))
        number, right, wrong = WRONG[path.name[:2]]
        wrong_cells = copy.deepcopy(nb.cells)
        wrong_answer = wrong_cells[[i for i, c in enumerate(nb.cells) if is_solution(c)][number - 1]]
        wrong_answer.source = wrong_answer.source.replace(right, wrong)
        after_first = [i for i in part if i >= first_answer]
        for phase, cells, indices in (("stubbed", edition.cells, part), ("solved", nb.cells, after_first),
                                      ("wrong", wrong_cells, after_first)):
            for i in indices:
                role = "answer" if is_solution(nb.cells[i]) else "check" if i in checks else "other"
                run.cells.append(v4.new_code_cell(cells[i].source, metadata={
                    "tags": cells[i].metadata.get("tags", []),
                    "run": {"chapter": path.name, "phase": phase, "index": i, "role": role}}))
    mp = pytest.MonkeyPatch()
    mp.setenv("CNNLIB_PROFILE", "fast")
    mp.setenv("MPLBACKEND", "Agg")
    try:
        NotebookClient(run, timeout=900, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(ROOT / "chapters")}}).execute()
    finally:
        mp.undo()
    return run


def _cells(run, chapter, phase):
    return [c for c in run.cells if c.metadata["run"].get("chapter") == chapter
            and c.metadata["run"].get("phase") == phase]


def _errors(cell):
    return [o for o in cell.outputs if o.output_type == "error"]


def _score(cell, path):
    """(points shown, the check cell's points) for a check cell of parts that did not fail, else None."""
    results = [o for o in cell.outputs if o.output_type == "execute_result"]
    if not results:
        return None
    points = read(path).cells[cell.metadata.run.index].metadata.nbgrader.points
    return float(results[-1].data["text/plain"]), float(points)


def _lost_points(cell, path):
    score = _score(cell, path)
    return bool(_errors(cell)) or (score is not None and score[0] < score[1])


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_student_edition_fails_only_in_its_stubs(executed, path):
    for cell in _cells(executed, path.name, "stubbed"):
        where = f"cell {cell.metadata.run.index}:\n{cell.source[:300]}"
        errors = _errors(cell)
        if errors:  # nbclient runs on past an error only in a cell tagged raises-exception
            assert "raises-exception" in cell.metadata.get("tags", []), where
        if cell.metadata.run.role == "answer":
            assert all(e.ename == "NotImplementedError" for e in errors), where
        elif cell.metadata.run.role == "check":
            assert [e.ename for e in errors] == ["AssertionError"], where
            assert "not done yet" in errors[0].evalue, where
        else:
            assert not errors, f"{where}\n" + "\n".join(errors[0].traceback)


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_check_says_not_done_yet_for_a_stub(executed, path):
    checks = [c for c in _cells(executed, path.name, "stubbed") if c.metadata.run.role == "check"]
    assert checks
    for cell in checks:  # the first check of the cell raises, and stops the cell
        verdicts = [e.evalue for e in _errors(cell)]
        assert len(verdicts) == 1 and verdicts[0].startswith("… ") and "not done yet" in verdicts[0], (
            cell.source, verdicts)
        printed = VERDICT.findall(output_text(cell).replace(verdicts[0], ""))
        if "Parts(" in cell.source:  # a cell of parts: each part said "not done yet", then the cell raised
            assert printed and all(v.startswith("… ") and "not done yet" in v for v in printed), printed
        else:
            assert not printed, "no ✔ before it"


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_with_the_solutions_pasted_back_every_check_passes(executed, path):
    cells = _cells(executed, path.name, "solved")
    for cell in cells:
        assert not _errors(cell), f"cell {cell.metadata.run.index}:\n{cell.source[:300]}"
    checks = [c for c in cells if c.metadata.run.role == "check"]
    assert checks
    for cell in checks:
        verdicts = VERDICT.findall(output_text(cell))
        assert verdicts and all(v.startswith("✔") for v in verdicts), (cell.source, verdicts)
        if "Parts(" in cell.source:  # a cell of parts shows its score: all the points
            score = _score(cell, path)
            assert score is not None and score[0] == score[1], (cell.source, score)


@pytest.mark.slow
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_one_wrong_answer_fails_exactly_its_check_and_says_how(executed, path):
    cells = _cells(executed, path.name, "wrong")
    number = WRONG[path.name[:2]][0]
    checks = [c for c in cells if c.metadata.run.role == "check"]
    failed = [k + 1 for k, cell in enumerate(checks) if _lost_points(cell, path)]
    assert failed == [number], [(c.source[:200], _errors(c) and _errors(c)[0].evalue) for c in checks]
    cell = checks[number - 1]
    if _errors(cell):
        [error] = _errors(cell)
        assert error.ename == "AssertionError" and error.evalue.startswith("✘ "), error.evalue
    else:  # a cell of parts: the wrong part says how, and the others keep their points
        assert "Parts(" in cell.source and re.search(r"^✘ ", output_text(cell), re.M), output_text(cell)


def test_readme_points_table_matches_the_chapters():
    """README's "Points" table for instructors is the chapters' nbgrader metadata, chapter by chapter."""
    readme = (ROOT / "README.md").read_text()
    table = re.findall(r"^\| (\d+) [^|]+\| (\d+) \| ([\d + ]+) \| (\d+) \|$", readme, re.M)
    assert len(table) == len(CHAPTERS)
    for path, (number, exercises, points, total) in zip(CHAPTERS, table):
        assert path.name.startswith(f"{int(number):02d}_")
        graded = [c.metadata["nbgrader"]["points"] for c in read(path).cells
                  if c.metadata.get("nbgrader", {}).get("grade")]
        assert (int(exercises), [int(p) for p in points.split("+")], int(total)) == \
            (len(graded), graded, sum(graded)), f"README's row for {path.name}"


def test_a_file_that_is_not_a_notebook_is_one_line_and_exit_status_2(tmp_path):
    (tmp_path / "text.ipynb").write_text("not json")
    (tmp_path / "list.ipynb").write_text("[1, 2]")
    for name in ("text.ipynb", "list.ipynb", "missing.ipynb"):
        result = subprocess.run([sys.executable, str(ROOT / "tools" / "student.py"),
                                 str(tmp_path / name), "--out", str(tmp_path / "out")],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.startswith(f"error: {tmp_path / name}" if name != "missing.ipynb"
                                        else "error: [Errno 2] No such file or directory")
        assert not (tmp_path / "out").exists()  # nothing written


def test_out_equal_to_the_source_folder_is_refused_and_the_solutions_are_kept(tmp_path):
    source = tmp_path / "chapters" / CHAPTERS[0].name
    source.parent.mkdir()
    source.write_bytes(CHAPTERS[0].read_bytes())
    for out in (source.parent, tmp_path / "chapters" / ".." / "chapters"):
        with pytest.raises(ValueError, match=r"would overwrite .* itself \(its solutions would "
                                             r"be replaced by stubs\)"):
            student.main([str(source), "--out", str(out)])
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "student.py"), source.name,
                             "--out", "."], cwd=source.parent, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert source.read_bytes() == CHAPTERS[0].read_bytes()
