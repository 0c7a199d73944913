"""The release: one version (``cnnlib.__version__``), one repository address, and the chapters'
set-up cells install exactly that tag (README, "Cutting a release")."""
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

import cnnlib

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def setup_cell(path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def test_the_version_is_a_release_number():
    assert re.fullmatch(r"\d+\.\d+\.\d+", cnnlib.__version__)


def test_pyproject_reads_the_version_from_cnnlib():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cnnlib.__version__"}


def test_the_repository_address_is_the_one_in_config_yml():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cnnlib.REPOSITORY_URL == config["repository"]["url"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_the_setup_cell_installs_this_versions_tag(path):
    source = setup_cell(path)
    tags = re.findall(r"git\+\S+?@(v[\w.]+)", source)
    assert tags == [f"v{cnnlib.__version__}"], (
        f"{path.name}: the set-up cell installs {tags or 'no tag'}; it must install the release "
        f"v{cnnlib.__version__} (cnnlib.__version__) from git+{cnnlib.REPOSITORY_URL}")
    assert f"git+{cnnlib.REPOSITORY_URL}@v{cnnlib.__version__}" in source


def test_the_readme_says_how_to_cut_a_release():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Cutting a release", 1)[1].split("\n## ", 1)[0]
    for step in ("cnnlib/__init__.py", "git tag", "gh release create", "weights/", "cifar-10-python.tar.gz"):
        assert step in section, step
