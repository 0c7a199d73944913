"""nbgrader's configuration for the book's course folder: `make course` copies it to
course/nbgrader_config.py (an existing one is kept; see README, "For instructors").

Feedback pages never show hidden tests: nbgrader's feedback step shows the autograded notebook
as it ran, hidden tests included, unless ``ClearHiddenTests`` is among its preprocessors; and a
failed check's traceback quotes the lines of its cell, hidden ones too, so the feedback shows a
failed check cell's error as its message only (the check's message says what is wrong).
"""
from nbconvert.preprocessors import Preprocessor

c = get_config()  # noqa: F821 (nbgrader's config loader defines it)
c.CourseDirectory.course_id = "cnnlib"
c.Execute.timeout = 1800  # training cells take longer than nbgrader's default 30 s


class ErrorMessageOnly(Preprocessor):
    """A check cell's error as ``AssertionError: message``, without the traceback that quotes the cell."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output['ename']}: {output['evalue']}"]
        return cell, resources


c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",  # nbgrader's default, first: it reads the scores by cell
    "nbgrader.preprocessors.ClearHiddenTests",
    ErrorMessageOnly,
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",  # nbgrader's default
]
