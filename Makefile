# Two commands: `make demo` (train + evaluate + analyse a small real job) and `make test`.
# Both create or update .venv; a second run skips the install when setup.py is unchanged.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# torch first, pinned: a CPU wheel of 2.13.0 is on local disk (a looser pin pulls a multi-GB CUDA build)
TORCH  := torch==2.13.0
# the long differential sweeps are marked slow: `make test PYTEST_ARGS=` runs them too
PYTEST_ARGS ?= -m "not slow"

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): setup.py Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m diverse_marl demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
