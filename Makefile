# The book's two commands: `make book` (build the HTML) and `make test` (everything CI checks).
# Both create the virtual environment .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp
PROFILE ?= full

.PHONY: book test unit notebooks html bench execute clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

book: $(STAMP)            ## build the HTML book from the stored outputs into _build/html
	$(BIN)/jupyter-book build . 

test: unit notebooks html ## unit tests, every notebook under nbval, a clean warnings-as-errors build

unit: $(STAMP)
	$(BIN)/python -m pytest tests -q

notebooks: $(STAMP)
	$(BIN)/python -m pytest --nbval chapters/ -q

html: $(STAMP)
	$(BIN)/jupyter-book clean .
	$(BIN)/jupyter-book build -W -n --keep-going .

bench: $(STAMP)           ## side-by-side benchmarks (not tests)
	$(BIN)/python bench/loader.py
	$(BIN)/python bench/loop.py

execute: $(STAMP)         ## re-run chapters top to bottom in a fresh kernel: make execute PROFILE=full [NB=chapters/x.ipynb]
	CNNLIB_PROFILE=$(PROFILE) $(BIN)/python tools/execute.py $(or $(NB),chapters/*.ipynb)

clean:
	rm -rf _build
