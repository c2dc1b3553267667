# The two commands of the README. Both create .venv on first use.
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

.PHONY: run test install clean bench

# setup.py builds the screening kernel (C): a changed source rebuilds it
$(STAMP): pyproject.toml setup.py services/matcher/screening/_kernel.c
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/waspada up

# The browser tests drive Debian's Chromium (no browser download); without root they are skipped.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "note: no $(CHROMIUM); browser tests will be skipped (apt-get install chromium chromium-driver)"; fi

test: $(STAMP) $(CHROMIUM)
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/python bench/e2e.py

clean:
	rm -rf $(VENV) .waspada
