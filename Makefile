# The two commands of README.md: `make book` and `make test`. Both install what they need first.
PYTHON ?= python
# Profile of the rendered book (ci | cpu | gpu); `make test` always runs the tiny `ci` profile.
BOOK_PROFILE ?= cpu
# How chapters execute: `cache` locally (a chapter re-runs only when its code, the profile or the library changed;
# tools/book_config.py), `force` in CI (CI=true: every chapter executed from scratch).
BOOK_EXECUTE ?= $(if $(CI),force,cache)
BOOK_CONFIG = _build/config/_config.$(BOOK_PROFILE).yml
# jupyter-book through this Python (its console script may not be on PATH right after installing it).
JUPYTER_BOOK = $(PYTHON) -c 'import sys; from jupyter_book.cli.main import main; sys.exit(main())'

# Scripts the pages load, served from the book's own files (tools/offline_assets.py), fetched by `npm pack`.
MATHJAX = mathjax@3.2.2
HTML_MANAGER = @jupyter-widgets/html-manager@1.0.15
REQUIREJS = requirejs@2.3.7
VENDOR = _build/offline/vendor
VENDOR_STAMP = $(VENDOR)/.$(subst /,_,$(subst @,-,$(MATHJAX)_$(HTML_MANAGER)_$(REQUIREJS)))

.PHONY: install data vendor book cell-times browser-deps browser-test test unit notebooks lint clean brats-reference \
	labs-env labs labs-check labs-grade

# The labs' grader (otter-grader) lives in its own environment: it would downgrade a package of the book's.
LABS_VENV = .venv-labs
LABS_PYTHON = $(LABS_VENV)/bin/python


install:
	$(PYTHON) -m pip install --quiet -r requirements.txt

data: install
	SAMBOOK_PROFILE=$(BOOK_PROFILE) $(PYTHON) -m sambook phantom

vendor: $(VENDOR_STAMP)

$(VENDOR_STAMP): tools/widgets-config.js
	@command -v npm >/dev/null || { echo "make vendor: npm is needed (Debian: apt-get install -y npm)"; exit 1; }
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/packs $(VENDOR)/mathjax $(VENDOR)/html-manager $(VENDOR)/requirejs
	cd $(VENDOR)/packs && npm pack --silent $(MATHJAX) $(HTML_MANAGER) $(REQUIREJS) >/dev/null
	tar xzf $(VENDOR)/packs/mathjax-*.tgz -C $(VENDOR)/mathjax --strip-components=2 package/es5
	tar xzf $(VENDOR)/packs/jupyter-widgets-html-manager-*.tgz -C $(VENDOR)/html-manager --strip-components=2 \
		--exclude='*.map' package/dist
	tar xzf $(VENDOR)/packs/requirejs-*.tgz -C $(VENDOR)/requirejs --strip-components=1 package/require.js
	cp tools/widgets-config.js $(VENDOR)/html-manager/widgets-config.js
	rm -rf $(VENDOR)/packs && touch $@

# The Sphinx environment is re-read in full (--all): with outputs from the cache this costs seconds, and no page
# can keep what it showed under another profile.
book: data vendor
	$(PYTHON) tools/book_config.py --profile $(BOOK_PROFILE) --execute $(BOOK_EXECUTE) --out $(BOOK_CONFIG)
	SAMBOOK_PROFILE=$(BOOK_PROFILE) $(JUPYTER_BOOK) build . --all --warningiserror --path-output . \
		--config $(BOOK_CONFIG)
	@echo "Book written to _build/html/index.html (profile $(BOOK_PROFILE))"

# ruff is pinned in requirements.txt; settings in pyproject.toml.
lint: install
	$(PYTHON) -m ruff check sambook tests tools
	$(PYTHON) -m ruff format --check sambook tests tools

# Every code cell's time against the per-cell timeout (the build records chapter times only); executes every
# chapter once more, so at `cpu` it takes as long as a build.
cell-times: data
	SAMBOOK_PROFILE=$(BOOK_PROFILE) $(PYTHON) tools/cell_times.py book/*.ipynb

# Headless Chromium for the browser test (Debian packages; skipped when both are installed).
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update && apt-get install -y chromium chromium-driver; }
	$(PYTHON) -m pip install --quiet -r requirements-browser.txt

# Opens every page of the built book (_build/html) in headless Chromium; screenshots in _build/screenshots/.
browser-test: browser-deps
	SAMBOOK_BROWSER_TEST=required $(PYTHON) -m pytest -q -m browser tests/browser

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
