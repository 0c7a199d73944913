"""tools/colab_check.py (make colab-check): the set-up cell read, the address swapped, a replaced
package caught; the floors the package promises are the versions CI tests."""
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import colab_check  # noqa: E402


def write_setup_cell(tmp_path, source):
    path = tmp_path / "nb.ipynb"
    cells = [{"cell_type": "markdown", "source": ["# x"]}, {"cell_type": "code", "source": source}]
    path.write_text(json.dumps({"cells": cells}))
    return path


def test_the_chapters_set_up_cell_is_read_with_its_options_and_requirement():
    args = colab_check.setup_cell_pip_args()
    assert any(a.startswith("-") for a in args), "the set-up cell installs quietly (-q)"
    assert [a for a in args if a.startswith("cnnlib @ ")], args


@pytest.mark.parametrize("line", [
    '    %pip install -q "cnnlib @ git+https://github.com/o/r@v1.2.0"',
    '    release = "git+https://github.com/o/r@v1.2.0"\n    %pip install -q "cnnlib @ {release}"',
])
def test_the_address_is_swapped_and_the_options_kept(tmp_path, line):
    path = write_setup_cell(tmp_path, f'import sys\nif "google.colab" in sys.modules:\n{line}\n')
    args = colab_check.setup_cell_pip_args(path)
    assert colab_check.local_args(args, "git+file:///clone@abc") == ["-q", "cnnlib @ git+file:///clone@abc"]


def test_a_set_up_cell_without_pip_install_is_an_error_naming_the_file(tmp_path):
    path = write_setup_cell(tmp_path, "import sys\n")
    with pytest.raises(colab_check.ColabCheckError, match="nb.ipynb.*'%pip install'"):
        colab_check.setup_cell_pip_args(path)
    with pytest.raises(colab_check.ColabCheckError, match="no 'cnnlib @"):
        colab_check.local_args(["-q", "numpy"], "git+file:///clone")


def test_would_replace_names_each_installed_package_in_the_install_list():
    report = {"install": [{"metadata": {"name": "cnnlib", "version": "0.2.0"}},
                          {"metadata": {"name": "Torch", "version": "2.14.1"}},
                          {"metadata": {"name": "scikit_image", "version": "0.25.0"}}]}
    installed = {"torch": "2.11.0", "numpy": "2.1.3", "scikit-image": "0.24.0"}
    assert colab_check.would_replace(report, installed) == ["torch 2.11.0 -> 2.14.1",
                                                            "scikit-image 0.24.0 -> 0.25.0"]
    assert colab_check.would_replace({"install": report["install"][:1]}, installed) == []


def test_the_versions_file_pins_colabs_torch_torchvision_and_numpy(tmp_path):
    assert set(colab_check.pinned_versions()) == {"torch", "torchvision", "numpy"}
    bad = tmp_path / "v.txt"
    bad.write_text("torch>=2\n")
    with pytest.raises(colab_check.ColabCheckError, match="v.txt: 'torch>=2' is not name==version"):
        colab_check.pinned_versions(bad)


def floors(lines):
    found = {}
    for line in lines:
        match = re.match(r'\s*"?(torch|torchvision|numpy)>=([\d.]+)', line)
        if match:
            found[match[1]] = match[2]
    return found


def test_the_floors_promised_are_the_colab_versions_ci_tests():
    """requirements.txt and pyproject.toml may promise no older version than make colab-check tests."""
    pins = colab_check.pinned_versions()
    assert floors((ROOT / "requirements.txt").read_text().splitlines()) == pins
    assert floors((ROOT / "pyproject.toml").read_text().splitlines()) == pins
