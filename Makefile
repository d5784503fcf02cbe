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

.PHONY: demo test venv clean human-data

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

# `make human-data`: the 2019 human-human Overcooked trials (Carroll et al.), shipped in overcooked-ai 1.1.0's
# source distribution as pandas pickles, converted into data/human/ (git-ignored). pandas lives only in a
# throwaway venv under .human-data/ (git-ignored); the conversion itself runs in the project venv.
HUMAN_BUILD := .human-data
HUMAN_SDIST := overcooked_ai-1.1.0
human-data: $(STAMP)
	@test -x $(HUMAN_BUILD)/venv/bin/python || $(PYTHON) -m venv $(HUMAN_BUILD)/venv
	$(HUMAN_BUILD)/venv/bin/python -m pip install --quiet pandas
	$(HUMAN_BUILD)/venv/bin/python -m pip download --quiet --no-deps --no-binary :all: overcooked-ai==1.1.0 -d $(HUMAN_BUILD)
	tar -xzf $(HUMAN_BUILD)/$(HUMAN_SDIST).tar.gz -C $(HUMAN_BUILD)
	$(HUMAN_BUILD)/venv/bin/python tools/human_data.py extract \
		$(HUMAN_BUILD)/$(HUMAN_SDIST)/src/overcooked_ai_py/data/human_data $(HUMAN_BUILD)/raw
	$(PY) tools/human_data.py convert $(HUMAN_BUILD)/raw data/human

clean:
	rm -rf $(VENV) build *.egg-info
