"""Autograde submissions in a sandbox, and flag the ones that look like cheats (`make grade`).

    python tools/grade.py ASSIGNMENT [--course course] [--student ID ...] [--timeout 1800]

In a shared Python kernel nothing is private: a student's answer cell runs in the same process
as the check cells, so it can replace the checker, read the expected values off the stack, or
make later cells do nothing (README, "For instructors"). This command grades so that such code
can neither reach the instructor's files nor go unnoticed:

* **One sandbox per student and notebook.** A temporary course folder holds a fresh gradebook
  made from ``source/ASSIGNMENT`` (by ``nbgrader generate_assignment``: no other student's
  grades or code in it) and that one submitted notebook; ``nbgrader autograde`` runs there, in a
  separate process with a wall-clock limit (``--timeout``; its process group is killed after it).
  The course folder and its gradebook are never written while student code runs.
* **A read-only cnnlib,** copied from this repository into the sandbox (byte-compiled, files
  0444 and folders 0555) and put first on ``PYTHONPATH``; the data (``CNNLIB_DATA``) is copied
  read-only too, and the cache (``CNNLIB_CACHE``), ``HOME``, IPython's and Jupyter's folders are
  private to the sandbox, so no submission can leave anything behind for the next one (an IPython
  start-up file, a poisoned cache). The private cache starts as a copy of ``--seed-cache``
  (default: ``$CNNLIB_CACHE``, the instructor's), so that the data sets are not decoded again for
  every student. Read-only stops careless and naive writes; the student's code
  runs as the same user and could chmod the copy back, which is flagged (``os.chmod``).
* **Results merged through nbgrader's own database API** once the kernel is gone: the auto scores
  and comments go into the course's gradebook (``nbgrader.api.Gradebook``), and the autograded
  notebook into ``course/autograded/``, so that ``nbgrader generate_feedback`` and ``nbgrader
  export`` work as after a plain ``nbgrader autograde``. A flagged submission is also marked
  ``flagged`` in the gradebook (the formgrader shows it).
* **Flags,** printed per student: a check cell that printed no verdict (a genuine check prints
  ``✔`` or fails: no output means it did not run, e.g. under an input transformer that turns
  cells into ``pass``) or was deleted (nbgrader does not restore it), and student code (answer
  cells, added or edited cells) that touches ``cnnlib.exercises`` or redefines ``check``, walks
  frames (``sys._getframe``, ``inspect.``, ``f_locals``), changes how IPython reads cells
  (``input_transformers``), replaces the exception handler (``set_custom_exc``), defines
  ``__eq__`` or ``__torch_function__``, or the like (FLAGS below), or that copies a check cell's
  oracle (a check cell's line verbatim, or a name only a check cell defines), or changes how a
  cell's result is shown (``displayhook``, ``display_formatter``). A check cell of parts earns
  the score it shows as its result (nbgrader's partial credit), so a check cell whose result is
  not its own score (missing, shown twice, or its number and words disagreeing) is flagged too.
  Flags are for a human to look at: a flagged submission keeps its score.

The exit status is 0 when every submission was graded and none is flagged, 1 when some are
flagged or could not be graded, 2 for a usage error (a missing course folder, say).
"""
from __future__ import annotations

import argparse
import ast
import compileall
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

# What student code is flagged for: (pattern, why). Each names a way to fool a check that runs in
# the same kernel; obfuscated code (getattr with built strings, exec) can hide any of them, so
# exec/eval are flagged as well.
FLAGS = [
    (r"cnnlib\s*\.\s*exercises|from\s+cnnlib\s+import\s+[^\n]*\bexercises\b", "touches cnnlib.exercises (the checker)"),
    (r"^\s*def\s+check(_function)?\b|^\s*check(_function)?\s*=[^=]|^\s*(class\s+Parts\b|Parts\s*=[^=])",
     "redefines check/check_function/Parts"),
    (r"\bsys\s*\.\s*_getframe|_current_frames", "walks the call stack (sys._getframe)"),
    (r"\binspect\s*\.|^\s*(from|import)\s+inspect\b", "uses inspect (can read the checker's frames)"),
    (r"\b(f_locals|f_back|f_globals|tb_frame|gi_frame|cell_contents|__closure__)\b", "reads frames or closures"),
    (r"input_transformers|input_transformer_manager|ast_transformers", "changes how IPython reads later cells (input_transformers)"),
    (r"set_custom_exc", "replaces IPython's exception handler (set_custom_exc)"),
    (r"displayhook|display_formatter|display_pub|ast_node_interactivity|execute_result",
     "changes how a cell's result is shown (nbgrader reads a check cell's result as its points)"),
    (r"\bevents\s*\.\s*register|register_magic|run_line_magic|run_cell\b", "hooks into IPython (events, magics, run_cell)"),
    (r"\b__eq__\b|\b__ne__\b", "defines __eq__ (an answer that equals anything)"),
    (r"__torch_function__|__torch_dispatch__|__array_(ufunc|function)__", "overrides tensor or array operations"),
    (r"\bgc\s*\.\s*get_(referrers|referents|objects)", "searches the heap (gc)"),
    (r"\bsys\s*\.\s*(settrace|setprofile|addaudithook|modules)", "hooks the interpreter or replaces modules"),
    (r"\bbuiltins\b|__builtins__|__import__|importlib", "changes builtins or imports by name"),
    (r"\b(exec|eval|compile)\s*\(", "runs code built from strings (exec/eval)"),
    (r"\bos\s*\.\s*chmod|gradebook|sqlite", "touches file permissions or the gradebook"),
]
VERDICT = re.compile(r"^[✔✘…] ", re.M)
SCORE = re.compile(r"^\*\*([0-9.]+) of ([0-9.]+) points\*\*")  # cnnlib.exercises.Score's Markdown


@dataclass
class Result:
    """One student's notebook: its scores (grade_id -> (score, max)) and what was flagged."""
    student: str
    notebook: str
    scores: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)
    seconds: float = 0.0
    graded: bool = False

    @property
    def score(self) -> tuple[float, float]:
        return (sum(s or 0 for s, _ in self.scores.values()), sum(m for _, m in self.scores.values()))


# ---------------------------------------------------------------- flags

def student_code_cells(submitted, released) -> list[tuple[int, str]]:
    """(index, source) of the code the student wrote: every code cell that is not a locked cell of
    the release (nbgrader restores those from the gradebook) and not a release cell unchanged."""
    locked = {c.metadata.nbgrader.grade_id for c in released.cells
              if c.metadata.get("nbgrader", {}).get("locked") and "grade_id" in c.metadata.nbgrader}
    released_sources = {c.source.strip() for c in released.cells if c.cell_type == "code"}
    cells = []
    for i, cell in enumerate(submitted.cells):
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade_id") in locked:
            continue
        if cell.source.strip() not in released_sources:
            cells.append((i, cell.source))
    return cells


def code_flags(submitted, released) -> list[str]:
    """What the student's code does that a check cannot defend against in a shared kernel."""
    flags = []
    for index, source in student_code_cells(submitted, released):
        for pattern, why in FLAGS:
            if re.search(pattern, source, re.M):
                flags.append(f"cell {index} {why}")
    return flags


def is_check_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def check_cells(nb) -> list:
    """The notebook's check cells (nbgrader test cells), in order."""
    return [cell for cell in nb.cells if is_check_cell(cell)]


def bound_and_read(source: str) -> tuple[set, set]:
    """The names a cell binds (assigns, defines, imports, takes as arguments) and those it reads."""
    python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return set(), set()
    bound, read = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
    return bound, read


def _lines(source: str) -> set[str]:
    """A cell's lines, whitespace collapsed; short ones (``)``, ``x = 1``) say nothing."""
    return {" ".join(line.split()) for line in source.splitlines() if len("".join(line.split())) >= 12}


def oracle_flags(submitted, released) -> list[str]:
    """Student code that copies a check cell's oracle: a line of a check cell verbatim, or a name
    that only a check cell defines (``conv_width``, ``cases``: a later check cell's globals are
    there to read when the student's function is called)."""
    checks = check_cells(released)
    others = [c for c in released.cells if c.cell_type == "code" and not is_check_cell(c)]
    other_lines = set().union(*(_lines(c.source) for c in others))
    check_lines = set().union(*(_lines(c.source) for c in checks)) - other_lines
    bound_elsewhere = set().union(*(bound_and_read(c.source)[0] for c in others))
    oracle_names = set().union(*(bound_and_read(c.source)[0] for c in checks)) - bound_elsewhere
    flags = []
    for index, source in student_code_cells(submitted, released):
        copied = sorted(_lines(source) & check_lines, key=len, reverse=True)
        # one short line in common (`for R in range(1, 193)`) can be chance; a long one or two are not
        if len(copied) >= 2 or (copied and len("".join(copied[0].split())) >= 30):
            flags.append(f"cell {index} copies a check cell's line: {copied[0][:70]!r}")
        bound, read = bound_and_read(source)
        borrowed = sorted((read - bound) & oracle_names)
        if borrowed:
            flags.append(f"cell {index} uses {', '.join(borrowed)}, which only a check cell defines")
    return flags


def missing_check_flags(autograded, released) -> list[str]:
    """Check cells of the release that the submission no longer has: nbgrader does not restore a
    deleted cell (it scores 0 and "needs manual grade"), so a person should look."""
    present = {c.metadata.nbgrader.grade_id for c in check_cells(autograded)}
    return [f"check cell {c.metadata.nbgrader.grade_id} was deleted" for c in check_cells(released)
            if c.metadata.nbgrader.grade_id not in present]


def silent_check_flags(autograded) -> list[str]:
    """Check cells that neither failed nor printed a verdict: a genuine check does one or the other."""
    flags = []
    for cell in check_cells(autograded):
        meta = cell.metadata.nbgrader
        outputs = cell.get("outputs", [])
        failed = any(o.output_type == "error" for o in outputs)
        text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
        if not outputs:
            flags.append(f"check cell {meta['grade_id']} produced no output")
        elif not failed and not VERDICT.search(text):
            flags.append(f"check cell {meta['grade_id']} passed without printing a verdict")
    return flags


def score_flags(autograded) -> list[str]:
    """Check cells whose result is not their own score.

    nbgrader reads the first result (``execute_result``) a test cell shows as its points, when
    that is a number: a check cell of parts (``Parts``) ends with its score, and no other check
    cell shows a result. So a cell of parts that neither failed nor shows a score (its result was
    suppressed: full points), a result shown before the score (the student's code called the
    display hook: those points), or a score whose number and words disagree (a formatter
    registered for it) is for a person to look at.
    """
    flags = []
    for cell in check_cells(autograded):
        meta = cell.metadata.nbgrader
        outputs = cell.get("outputs", [])
        results = [o for o in outputs if o.output_type == "execute_result"]
        ends_with_score = "Parts(" in cell.source and not any(o.output_type == "error" for o in outputs)
        if ends_with_score and not results:
            flags.append(f"check cell {meta['grade_id']} shows no score")
        elif results and not (ends_with_score and len(results) == 1 and outputs[-1] is results[0]
                              and _is_score(results[0], float(meta.get("points", 0)))):
            flags.append(f"check cell {meta['grade_id']} shows a result that is not its score "
                         "(nbgrader reads it as the cell's points)")
    return flags


def _is_score(result, points: float) -> bool:
    """The result of ``Parts.score()``: a number, and Markdown that says the same of ``points``."""
    words = SCORE.match(str(result.get("data", {}).get("text/markdown", "")))
    try:
        number = float(result["data"]["text/plain"])
    except (KeyError, TypeError, ValueError):
        return False
    return bool(words) and abs(number - float(words[1])) < 0.01 and float(words[2]) == points


# ---------------------------------------------------------------- the sandbox

def read_only_copy(source: Path, target: Path) -> Path:
    """A byte-compiled copy of ``source`` at ``target``, every file 0444 and folder 0555."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    compileall.compile_dir(target, quiet=1)  # imports then need not write __pycache__
    for folder, _dirs, files in os.walk(target):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
    return target


def tree_digest(path: Path) -> str:
    """SHA-256 of every file's relative path and bytes under ``path``: a changed copy shows.

    Permission bits do not bind root (graders in containers often run as root), nor a student's
    code that chmods the copy back; the digest after each run catches either.
    """
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink()):
        digest.update(str(file.relative_to(path)).encode() + b"\0")
        digest.update(b"<link>" if file.is_symlink() else file.read_bytes())
    return digest.hexdigest()


def make_writable(path: Path) -> None:
    """So that the sandbox can be removed afterwards."""
    for folder, _dirs, files in os.walk(path):
        os.chmod(folder, stat.S_IRWXU)
        for name in files:
            p = os.path.join(folder, name)
            if not os.path.islink(p):
                os.chmod(p, stat.S_IRUSR | stat.S_IWUSR)


def nbgrader(course: Path, args, env, timeout=None) -> subprocess.CompletedProcess:
    """Run the nbgrader command line on the course folder ``course``, whatever its config says."""
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}",
               f"--CourseDirectory.db_url=sqlite:///{course / 'gradebook.db'}"]
    process = subprocess.Popen(command, cwd=course, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # nbgrader, its kernel and whatever the kernel started
        out, _ = process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, out, None)


def sandbox_env(sandbox: Path, lib: Path, data: Path | None) -> dict:
    """The environment of the sandboxed nbgrader: its own home, cache and IPython folder."""
    home = sandbox / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER_", "IPYTHON", "NBGRADER_", "CNNLIB_CACHE", "XDG_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join(filter(None, [str(lib), os.environ.get("PYTHONPATH", "")])),
        "HOME": str(home), "IPYTHONDIR": str(home / ".ipython"), "MPLCONFIGDIR": str(home / ".mpl"),
        "XDG_CACHE_HOME": str(home / ".cache"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "CNNLIB_CACHE": str(sandbox / "cache"), "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        # nbgrader runs `alembic` (its database migrations) from PATH: this Python's bin folder first
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    })
    if data is not None:
        env["CNNLIB_DATA"] = str(data)
    return env


def template_course(course: Path, assignment: str, work: Path, env: dict) -> Path:
    """A course folder with the assignment released and a gradebook that has no student."""
    template = work / "template"
    (template / "source").mkdir(parents=True)
    shutil.copytree(course / "source" / assignment, template / "source" / assignment)
    if (course / "nbgrader_config.py").exists():
        shutil.copy(course / "nbgrader_config.py", template / "nbgrader_config.py")
    done = nbgrader(template, ["generate_assignment", assignment, "--force"], env)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed in the sandbox:\n{done.stdout}")
    return template


def grade_one(template: Path, submission: Path, assignment: str, student: str, work: Path,
              env: dict, timeout: float) -> tuple[Path, str | None]:
    """Autograde one student's notebook in a copy of the template course; (course, failure)."""
    course = work / "runs" / student / submission.stem
    shutil.copytree(template, course, ignore=shutil.ignore_patterns("autograded", "feedback"))
    target = course / "submitted" / student / assignment
    target.mkdir(parents=True)
    shutil.copyfile(submission, target / submission.name)
    if (submission.parent / "timestamp.txt").is_file():
        shutil.copyfile(submission.parent / "timestamp.txt", target / "timestamp.txt")
    try:
        done = nbgrader(course, ["autograde", assignment, "--create", "--force",
                                 f"--student={student}", f"--notebook={submission.stem}"],
                        env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return course, f"autograding did not finish within {timeout:g} s (killed): not graded"
    if done.returncode != 0:
        last = done.stdout.strip().splitlines()[-3:]
        return course, "nbgrader autograde failed: " + " | ".join(last)
    return course, None


# ---------------------------------------------------------------- merging into the course

def sandbox_scores(course: Path, assignment: str, student: str, notebook: str):
    """(grades, comments, timestamp) of one notebook, read from the sandbox's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(notebook, assignment, student)
        grades = {g.name: (g.auto_score, g.max_score, g.needs_manual_grade) for g in nb.grades}
        comments = {c.name: c.auto_comment for c in nb.comments}
        timestamp = gb.find_submission(assignment, student).timestamp
    return grades, comments, timestamp


def merge(db_url: str, assignment: str, student: str, notebook: str, grades, comments, timestamp,
          flagged: bool) -> None:
    """Write one notebook's auto scores and comments into the course's gradebook (nbgrader's API)."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    with Gradebook(db_url) as gb, warnings.catch_warnings():
        # nbgrader's add_submission builds its objects before adding them to the session, which
        # SQLAlchemy warns about (as it does under `nbgrader autograde`); nothing is lost
        warnings.simplefilter("ignore", SAWarning)
        gb.update_or_create_student(student)
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            submission = gb.add_submission(assignment, student, timestamp=timestamp)
        submission.timestamp = timestamp or submission.timestamp
        for name, (score, _, needs_manual) in grades.items():
            grade = gb.find_grade(name, notebook, assignment, student)
            grade.auto_score, grade.needs_manual_grade = score, needs_manual
        for name, text in comments.items():
            gb.find_comment(name, notebook, assignment, student).auto_comment = text
        if flagged:  # nbgrader's own flag, per notebook: the formgrader lists it
            gb.find_submission_notebook(notebook, assignment, student).flagged = True
        gb.db.commit()


def copy_autograded(sandbox_course: Path, course: Path, assignment: str, student: str, name: str) -> None:
    """The autograded notebook (a plain file, never a link) into the course's autograded/ folder."""
    source = sandbox_course / "autograded" / student / assignment
    target = course / "autograded" / student / assignment
    target.mkdir(parents=True, exist_ok=True)
    for file in (name, "timestamp.txt"):
        if (source / file).is_file() and not (source / file).is_symlink():
            shutil.copyfile(source / file, target / file)


# ---------------------------------------------------------------- the command

def submissions(course: Path, assignment: str, students: list[str] | None):
    folder = course / "submitted"
    found = sorted(p.name for p in folder.iterdir() if (p / assignment).is_dir()) if folder.is_dir() else []
    for student in students or found:
        for path in sorted((folder / student / assignment).glob("*.ipynb")):
            yield student, path


def grade(course: Path, assignment: str, students=None, timeout: float = 1800, db_url=None,
          data: Path | None = None, keep: bool = False, seed_cache: Path | None = None) -> list[Result]:
    """Grade every submission of ``assignment`` in ``course`` (see the module docstring)."""
    db_url = db_url or f"sqlite:///{course / 'gradebook.db'}"
    work = Path(tempfile.mkdtemp(prefix="cnnlib-grade-"))
    results = []
    try:
        data_copy = read_only_copy(data, work / "data") if data and data.is_dir() else None
        data_digest = tree_digest(data_copy) if data_copy else None
        template = template_course(course, assignment, work, sandbox_env(work, ROOT, data_copy))
        for student, path in submissions(course, assignment, students):
            result = Result(student, path.stem)
            released = nbformat.read(template / "release" / assignment / path.name, 4)
            submitted = nbformat.read(path, 4)
            result.flags += code_flags(submitted, released) + oracle_flags(submitted, released)
            sandbox = work / "sandboxes" / f"{student}-{path.stem}"
            lib = read_only_copy(ROOT / "cnnlib", sandbox / "lib" / "cnnlib").parent
            lib_digest = tree_digest(lib)
            if seed_cache is not None and seed_cache.is_dir():
                # a copy, never links: a file the student's code rewrites must not reach the next one
                shutil.copytree(seed_cache, sandbox / "cache", ignore=shutil.ignore_patterns("*.lock", "*.tmp"))
            start = time.perf_counter()
            run, failure = grade_one(template, path, assignment, student, work,
                                     sandbox_env(sandbox, lib, data_copy), timeout)
            result.seconds = time.perf_counter() - start
            if tree_digest(lib) != lib_digest:
                result.flags.append("changed the read-only copy of cnnlib during grading")
            if data_copy and tree_digest(data_copy) != data_digest:
                result.flags.append("changed the read-only copy of the data during grading")
                make_writable(data_copy)
                shutil.rmtree(data_copy)
                data_copy = read_only_copy(data, work / "data")  # a fresh copy for the next one
            if failure:
                result.flags.append(failure)
            else:
                autograded = run / "autograded" / student / assignment / path.name
                graded_nb = nbformat.read(autograded, 4)
                result.flags += (silent_check_flags(graded_nb) + score_flags(graded_nb)
                                 + missing_check_flags(graded_nb, released))
                grades, comments, timestamp = sandbox_scores(run, assignment, student, path.stem)
                result.scores = {name: (s, m) for name, (s, m, _) in grades.items()}
                merge(db_url, assignment, student, path.stem, grades, comments, timestamp,
                      flagged=bool(result.flags))
                copy_autograded(run, course, assignment, student, path.name)
                result.graded = True
            results.append(result)
            report_line(result)
    finally:
        if keep:
            print(f"sandbox kept in {work}")
        else:
            make_writable(work)
            shutil.rmtree(work, ignore_errors=True)
    return results


def report_line(result: Result) -> None:
    score, maximum = result.score
    verdict = f"{score:g}/{maximum:g}" if result.graded else "not graded"
    print(f"{result.student:<16} {result.notebook:<28} {verdict:>10} {result.seconds:6.1f} s"
          f"{'   FLAGGED' if result.flags else ''}", flush=True)
    for flag in result.flags:
        print(f"    - {flag}", flush=True)


def summary(results: list[Result]) -> str:
    flagged = sorted({r.student for r in results if r.flags or not r.graded})
    lines = [f"graded {sum(r.graded for r in results)} of {len(results)} notebooks "
             f"({len({r.student for r in results})} students)"]
    lines.append("flagged: " + (", ".join(flagged) if flagged else "none"))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("--course", type=Path, default=Path("course"))
    parser.add_argument("--student", action="append", help="grade only this student (repeatable)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per notebook (default 1800)")
    parser.add_argument("--db", help="the course gradebook's URL (default: sqlite in the course folder)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the sandbox folder (to debug)")
    parser.add_argument("--seed-cache", type=Path, default=os.environ.get("CNNLIB_CACHE") or None,
                        help="copy this cache (decoded data sets, checkpoints) into each sandbox's "
                             "private cache, so that no student pays for decoding (default: $CNNLIB_CACHE)")
    parser.add_argument("--no-seed-cache", dest="seed_cache", action="store_const", const=None,
                        help="start every sandbox with an empty cache")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    for needed in (course / "source" / args.assignment, course / "submitted"):
        if not needed.is_dir():
            raise ValueError(f"{needed} is not a folder: run `make course` and collect the submissions first")
    if args.db is None and not (course / "gradebook.db").is_file():
        raise ValueError(f"{course / 'gradebook.db'} is missing: release the assignment first "
                         f"(`make course`, or nbgrader generate_assignment {args.assignment})")
    data = Path(os.environ["CNNLIB_DATA"]) if os.environ.get("CNNLIB_DATA") else None
    seed = Path(args.seed_cache) if args.seed_cache else None
    results = grade(course, args.assignment, args.student, args.timeout, args.db, data, args.keep, seed)
    if not results:
        raise ValueError(f"no submissions of {args.assignment!r} in {course / 'submitted'}")
    print(summary(results))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1, default=str))
    return 1 if any(r.flags or not r.graded for r in results) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cli import run  # tools/cli.py: a user's mistake is one line, exit status 2

    sys.exit(run(main))
