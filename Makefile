# The two commands of README.md: `make book` and `make test`. Both install what they need first.
PYTHON ?= python
# Profile of the rendered book (ci | cpu | gpu); `make test` always runs the tiny `ci` profile.
BOOK_PROFILE ?= cpu
# jupyter-book through this Python (its console script may not be on PATH right after installing it).
JUPYTER_BOOK = $(PYTHON) -c 'import sys; from jupyter_book.cli.main import main; sys.exit(main())'

# The labs' grader (otter-grader) lives in its own environment: it would downgrade a package of the book's.
LABS_VENV = .venv-labs
LABS_PYTHON = $(LABS_VENV)/bin/python

.PHONY: install data book test unit notebooks lint clean brats-reference labs-env labs labs-check labs-grade

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

# A venv that sees the book's packages (--system-site-packages) and adds otter-grader from labs/requirements.txt.
$(LABS_PYTHON): labs/requirements.txt
	$(PYTHON) -m venv --system-site-packages $(LABS_VENV)
	$(LABS_PYTHON) -m pip install --quiet -r labs/requirements.txt
	$(LABS_PYTHON) -m pip install --quiet --no-deps -e .
	touch $(LABS_PYTHON)

labs-env: install $(LABS_PYTHON)

# Student notebooks (_build/labs/student/, copied to the committed labs/student/) and autograder zips
# (_build/labs/autograder/) from the otter masters labs/*.ipynb.
labs: labs-env
	$(LABS_PYTHON) labs/build_labs.py

# Every solution scores 100 %, every student notebook runs and scores 0, every wrong answer is rejected.
labs-check: labs
	SAMBOOK_PROFILE=ci $(LABS_PYTHON) -m pytest -q -p no:cacheprovider labs/test_labs.py
	@echo "lab                kind        points        grading time (2 in parallel)" && cat _build/labs/check.txt

# Grade a folder of submissions without Docker: make labs-grade LAB=lora_rank SUBMISSIONS=path/to/folder
labs-grade: labs
	$(LABS_PYTHON) labs/grade_labs.py _build/labs/autograder/$(LAB).zip $(SUBMISSIONS) --out $(SUBMISSIONS)/scores.csv

clean:
	rm -rf _build data/phantom data/cache data/runs
