# The two commands of the README's quick start. Each does its own setup on a fresh
# machine with Python >= 3.10: a private virtualenv with tox, then tox does the rest.
PYTHON ?= python3

# Where pyenv manages the interpreters (as on the project's machines), its shims expose
# only the selected version: append every installed CPython 3.10+ to PATH so tox finds them.
PYENV_BINS := $(shell command -v pyenv >/dev/null 2>&1 && \
	ls -d "$$(pyenv root)"/versions/3.1[0-9]*/bin 2>/dev/null | paste -sd: -)
ifneq ($(PYENV_BINS),)
export PATH := $(PATH):$(PYENV_BINS)
endif
TOOLS := .venv-tools
TOX := $(TOOLS)/bin/tox

.PHONY: test docs docs-services conformance conformance-gate bench lint type clean

$(TOX):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "tox==4.67.15"

## Run the whole test suite: every Python version present, ruff, mypy --strict, the docs.
test: $(TOX) docs-services
	$(TOX) run-parallel --parallel-no-spinner --parallel 2

## Build the documentation into docs/_build/html (warnings are errors) and run its doctests.
docs: $(TOX)
	$(TOX) run -e docs

## The docs' examples run against real servers (tests/test_docs.py): the scaling guide's
## against redis-server, the nginx guide's configuration in nginx. Install Debian's
## packages where they're missing and we can (root with apt-get; the packages don't start
## services); without them, those tests skip.
DOCS_SERVICES := redis-server:redis-server nginx:nginx-light
docs-services:
	@missing=""; for pair in $(DOCS_SERVICES); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/$${pair%%:*}" ] || missing="$$missing $${pair##*:}"; \
	done; \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; } >/dev/null 2>&1; } \
	  || echo "not installed:$$missing: the docs tests that need them will skip"

## Run the handshake suite and the Autobahn|Testsuite against every websocket_ref testee.
conformance:
	$(PYTHON) -m conformance run --suite all

## Exit non-zero unless the last reports of both suites are complete and free of FAILED cases.
conformance-gate:
	$(PYTHON) -m conformance gate
	$(PYTHON) -m conformance gate --suite handshake

## Benchmarks: websocket_ref vs websockets (see bench/README.md).
bench: $(TOX)
	$(TOX) run -e bench

lint: $(TOX)
	$(TOX) run -e lint

type: $(TOX)
	$(TOX) run -e type

clean:
	rm -rf $(TOOLS) .tox .cache build dist reports *.egg-info docs/_build
