# The book's two commands: `make book` (build the HTML) and `make test` (everything CI checks).
# Both create the virtual environment .venv on first use. While working: `make quick`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp
PROFILE ?= full

.PHONY: book test lint quick unit suite notebooks html browser student course grade export validate grading mathjax bench execute \
        weights colab-venv colab-check gpu-check clean

# Tests run in parallel (pytest-xdist), one process per core, a test file per process at a time
# (`loadfile`: a notebook's cells, a module's fixtures stay together), one thread each (the
# stored outputs were computed with one thread; two processes already fill two cores).
WORKERS ?= 2
PARALLEL = OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(WORKERS) --dist loadfile
# The test tiers: `slow` (pyproject.toml) marks the tests that re-evaluate the shipped networks on
# 10,000 images, spawn processes or torchrun, execute notebooks or run nbgrader.
UNIT = tests -q --ignore=tests/test_book_html.py --durations=15

# MathJax 3 for offline math: an npm package fetched at build time (git-ignored, not committed)
# and copied next to the HTML after each build; _config.yml's mathjax_path points at the copy.
MATHJAX = .mathjax/node_modules/mathjax/es5
define copy_mathjax
	@if test -f $(MATHJAX)/tex-chtml.js; then \
	  rm -rf _build/html/_static/mathjax && mkdir -p _build/html/_static/mathjax && \
	  cp -r $(MATHJAX)/tex-chtml.js $(MATHJAX)/a11y $(MATHJAX)/adaptors $(MATHJAX)/input \
	        $(MATHJAX)/output $(MATHJAX)/sre $(MATHJAX)/ui _build/html/_static/mathjax/ && \
	  echo "MathJax copied to _build/html/_static/mathjax (math renders offline)"; \
	else echo "warning: no MathJax in $(MATHJAX) (npm missing?): math will need the network"; fi
endef

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

book: $(STAMP) mathjax    ## build the HTML book from the stored outputs into _build/html
	$(BIN)/jupyter-book build .
	$(copy_mathjax)

test: lint suite html browser ## lint, unit tests (all tiers), every notebook under nbval, a clean warnings-as-errors build, the built pages in a browser

lint: $(STAMP)          ## ruff: pyflakes, bugbear and pyupgrade rules on the library, tests, tools, bench, examples
	$(BIN)/ruff check cnnlib tests tools bench examples conftest.py

quick: $(STAMP)           ## the inner loop: unit tests without the slow tier, in parallel (under 3 minutes on 2 cores)
	$(PARALLEL) $(UNIT) -m "not slow"

unit: $(STAMP)            ## every unit test, the slow tier included
	$(PARALLEL) $(UNIT)

# What `make test` runs of the two above in one parallel run: a core that finishes its share of
# the unit tests takes a notebook, so neither waits for the other's slowest file.
suite: $(STAMP)           ## unit (all tiers) and notebooks in one parallel pytest run
	$(PARALLEL) $(UNIT) --nbval chapters/

notebooks: $(STAMP)       ## every chapter under nbval (fast profile)
	$(PARALLEL) --nbval chapters/ -q

html: $(STAMP) mathjax
	$(BIN)/jupyter-book clean .
	$(BIN)/jupyter-book build -W -n --keep-going .
	$(copy_mathjax)

browser: $(STAMP)         ## open every page of the built book in headless Chromium, offline (after `make html`); figure screenshots in _build/screenshots/
	$(BIN)/python -m pytest tests/test_book_html.py -q -rs

mathjax:                  ## fetch MathJax 3 with npm into .mathjax/ (once)
	@test -f $(MATHJAX)/tex-chtml.js || npm install --prefix .mathjax --no-save --no-audit --no-fund \
	  --loglevel=error "mathjax@3" || echo "warning: could not fetch mathjax@3 with npm"

student: $(STAMP)         ## the student edition: solutions stubbed, hidden tests removed, into student/chapters
	rm -rf student/chapters
	$(BIN)/python tools/student.py chapters/*.ipynb --out student/chapters

# For instructors who grade with nbgrader (README, "For instructors"). nbgrader is in
# requirements.txt: it installs beside jupyter-book 1.x (elsewhere: `pip install .[instructor]`).
# The assignments are the syllabus page's: one per chapter (ch01_conv_design, ...) or, with
# SCHEDULE=short, one per week of the short course (week1, ...); tools/syllabus.py keeps both.
SCHEDULE ?= chapters
course: $(STAMP)          ## an nbgrader course folder in course/: an assignment per chapter released, or per week with SCHEDULE=short
	$(BIN)/python tools/course.py --course course --schedule $(SCHEDULE)

# Autograde in a sandbox (tools/grade.py): one temporary course folder per student and notebook,
# a read-only cnnlib, a private cache, a time limit; scores merged into course/gradebook.db through
# nbgrader's API; cheats flagged per student. Exit status 1 when a submission is flagged.
grade: $(STAMP)           ## autograde course/submitted/*/$(ASSIGNMENT) in a sandbox and flag cheats: make grade ASSIGNMENT=ch01_conv_design [STUDENT=id] [TIMEOUT=s]
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python tools/grade.py \
	  $(or $(ASSIGNMENT),$(error ASSIGNMENT=name is needed: an assignment in course/source/, e.g. ch01_conv_design)) \
	  --course course $(if $(STUDENT),--student $(STUDENT)) $(if $(TIMEOUT),--timeout $(TIMEOUT))

export: $(STAMP)          ## one CSV row per student and graded exercise, from course/gradebook.db, into course/grades.csv [ASSIGNMENT=name]
	$(BIN)/python tools/export_grades.py --course course --out course/grades.csv \
	  $(if $(ASSIGNMENT),--assignment $(ASSIGNMENT))

validate: $(STAMP)        ## nbgrader's validator with an exit status: make validate NB=path/to/chapter.ipynb (non-zero when a check fails)
	$(BIN)/python tools/validate.py $(or $(NB),$(error NB=path/to/notebook.ipynb is needed))

grading: $(STAMP)         ## nbgrader grades the chapters (all 13): blank, solved, one wrong answer (fast profile)
	CNNLIB_NBGRADER_CHAPTERS=all $(BIN)/python -m pytest tests/test_nbgrader.py -q

bench: $(STAMP)           ## side-by-side benchmarks (not tests)
	$(BIN)/python bench/loader.py
	$(BIN)/python bench/loop.py

# The book's trained networks (cnnlib.pretrained): trained with the recipe, stored in weights/
# with their SHA-256 in weights/MANIFEST.json. Hours on a 2-core CPU for all, minutes on a GPU
# with JOBS=7 (processes at once); resumable.
weights: $(STAMP)         ## train the book's networks into weights/: all, or one with NET=resnet18 [JOBS=7]
	$(BIN)/python tools/train_weights.py $(or $(NET),--all) --jobs $(or $(JOBS),1)

execute: $(STAMP)         ## re-run chapters top to bottom in a fresh kernel: make execute PROFILE=full [NB=chapters/x.ipynb]
	CNNLIB_PROFILE=$(PROFILE) $(BIN)/python tools/execute.py $(or $(NB),chapters/*.ipynb)

# Colab's stack (issue 21): torch, torchvision and numpy at Colab's versions, written once in
# tools/colab-versions.txt, in a virtual environment of their own on this machine's Python. It
# takes ~2.6 GB of CUDA wheels (the only torch builds on PyPI; they do not import without their
# CUDA libraries, even on a CPU), so it is kept between runs outside the clone (CI clones afresh)
# and rebuilt when the versions file or requirements.txt (the test tools' ranges) change.
COLAB_KEY      := $(shell cat tools/colab-versions.txt requirements.txt 2>/dev/null | sha256sum | cut -c1-12)
COLAB_VENV     ?= $(HOME)/.cache/cnnlib/venv-colab-$(COLAB_KEY)
COLAB_STAMP     = $(COLAB_VENV)/.installed-stamp
COLAB_TOOLS     = pytest pytest-xdist nbval ipykernel nbformat nbclient pyyaml captum airbench ruff
COLAB_CHAPTERS ?= chapters/01_conv_design.ipynb chapters/04_batchnorm.ipynb

$(COLAB_STAMP):
	rm -rf $(COLAB_VENV)
	$(PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install -q --upgrade pip
	$(COLAB_VENV)/bin/python -m pip install -q -r tools/colab-versions.txt
	$(COLAB_VENV)/bin/python -m pip install -q -c tools/colab-versions.txt -c requirements.txt $(COLAB_TOOLS)
	touch $(COLAB_STAMP)

colab-venv: $(COLAB_STAMP) ## build (or find) the Colab-like virtual environment

# The Colab stack keeps a cache of its own: it starts empty, as a Colab session does, so the
# check trains and caches what a student's first run would.
COLAB_CACHE = $(or $(CNNLIB_CACHE),$(HOME)/.cache/cnnlib)/colab-stack

colab-check: $(COLAB_STAMP) ## Colab's torch/torchvision/numpy: install as the set-up cell does (nothing replaced), fast unit tier, nbval on two chapters
	$(COLAB_VENV)/bin/python tools/colab_check.py
	OMP_NUM_THREADS=1 CNNLIB_CACHE=$(COLAB_CACHE) $(COLAB_VENV)/bin/python -m pytest -n $(WORKERS) --dist loadfile $(UNIT) -m "not slow"
	OMP_NUM_THREADS=1 CNNLIB_CACHE=$(COLAB_CACHE) $(COLAB_VENV)/bin/python -m pytest -n $(WORKERS) --dist loadfile --nbval -q $(COLAB_CHAPTERS)

gpu-check: $(STAMP)       ## on a CUDA GPU, within 10 minutes: benchmark, fp16 route + exact resume, torchrun, chapters 4, 9, 11 (full); figures in gpu-check.json
	$(BIN)/python tools/gpu_check.py $(or $(OUT),gpu-check.json)

clean:
	rm -rf _build
