# The two commands of the README. Each creates (or reuses) the virtual environment .venv,
# installs what it needs, then does its job:
#   make book   builds the whole book, executing every chapter, into _build/html
#   make test   runs every test: unit tests, every notebook (nbval, quick profile), the
#               book build with warnings as errors and the browser test of the built pages.
#               Two pytest workers share the cores, so each uses one thread (OMP_NUM_THREADS=1):
#               two threads per worker on two cores ran notebooks several times slower.
# Override the interpreter with `make test PYTHON=python3.12`, the data folder with
# GENMODELS_DATA=/path (default: ../shared/data when that folder exists).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.genmodels-installed
JOBS   ?= 2

ifeq ($(origin GENMODELS_DATA), undefined)
  ifneq ($(wildcard ../shared/data),)
    export GENMODELS_DATA := $(abspath ../shared/data)
  endif
endif

.PHONY: book test env browser clean

env: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[book,test]"
	@touch $(STAMP)

# Debian's Chromium for the browser test (never `playwright install`: no downloads of browsers).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: chromium not found and not root: the browser test will be skipped (install Debian's chromium)"; fi

book: $(STAMP)
	$(PY) tools/build_book.py

test: $(STAMP) browser
	GENMODELS_QUICK=1 OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax -p no:cacheprovider tests notebooks

clean:
	rm -rf _build
