# The two commands of README.md: `make book` and `make test`. Both install what they need first.
PYTHON ?= python
# Profile of the rendered book (ci | cpu | gpu); `make test` always runs the tiny `ci` profile.
BOOK_PROFILE ?= cpu
# jupyter-book through this Python (its console script may not be on PATH right after installing it).
JUPYTER_BOOK = $(PYTHON) -c 'import sys; from jupyter_book.cli.main import main; sys.exit(main())'

.PHONY: install data book test unit notebooks lint clean brats-reference

install:
	$(PYTHON) -m pip install --quiet -r requirements.txt

data: install
	SAMBOOK_PROFILE=$(BOOK_PROFILE) $(PYTHON) -m sambook phantom

# --all: Sphinx would otherwise keep pages executed under another profile (its environment ignores SAMBOOK_PROFILE).
book: data
	SAMBOOK_PROFILE=$(BOOK_PROFILE) $(JUPYTER_BOOK) build . --all --warningiserror --path-output .
	@echo "Book written to _build/html/index.html (profile $(BOOK_PROFILE))"

# ruff is pinned in requirements.txt; settings in pyproject.toml.
lint: install
	$(PYTHON) -m ruff check sambook tests
	$(PYTHON) -m ruff format --check sambook tests

unit:
	SAMBOOK_PROFILE=ci $(PYTHON) -m pytest -q tests

notebooks:
	SAMBOOK_PROFILE=ci $(PYTHON) -m pytest -q --nbmake --nbmake-timeout=600 book

test: install
	SAMBOOK_PROFILE=ci $(PYTHON) -m pytest -q tests --nbmake book --nbmake-timeout=600

# BraTS_evaluation pins numpy and pandas below the book's: it gets its own venv, and the cross-check of
# tests/test_brats_scores.py runs against it live (skipped without it).
BRATS_EVALUATION_VENV ?= .venv-brats-evaluation
brats-reference:
	$(PYTHON) -m venv $(BRATS_EVALUATION_VENV)
	$(BRATS_EVALUATION_VENV)/bin/pip install --quiet BraTS-evaluation==0.0.10 panoptica==2.1.7 nibabel scipy
	SAMBOOK_BRATS_EVALUATION_PYTHON=$(BRATS_EVALUATION_VENV)/bin/python SAMBOOK_PROFILE=ci \
		$(PYTHON) -m pytest -q tests/test_brats_scores.py

clean:
	rm -rf _build data/phantom data/cache data/runs
