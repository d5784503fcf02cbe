# Two commands: `make demo` (train + evaluate + analyse a small real job) and `make test`.
# `make ref-venv` builds the reference venv the Overcooked speed bench and fixture tool compare against.
# Both create or update .venv; a second run skips the install when setup.py is unchanged.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# torch first, pinned: a CPU wheel of 2.13.0 is on local disk (a looser pin pulls a multi-GB CUDA build)
TORCH  := torch==2.13.0
# the long differential sweeps are marked slow: `make test PYTEST_ARGS=` runs them too
PYTEST_ARGS ?= -m "not slow"

.PHONY: demo test lint format docs notebook venv ref-venv human-data clean

venv: $(STAMP)

$(STAMP): setup.py pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m diverse_marl demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff's lint rules and format check (settings in pyproject.toml); `make format` applies both fixes
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# the documentation site into site/ (mkdocs-material; `.venv/bin/mkdocs serve` to browse while editing)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# re-execute the analysis notebook in place, so the committed copy (and the docs) carry its figures
notebook: $(STAMP)
	MPLBACKEND=module://matplotlib_inline.backend_inline $(VENV)/bin/jupyter nbconvert --to notebook --execute \
		--inplace --ExecutePreprocessor.timeout=600 notebooks/strategy_diversity.ipynb

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# the reference Overcooked of bench/overcooked_speed.py and tools/make_overcooked_fixtures.py:
# upstream overcooked-ai 1.1.0 needs numpy<2, so it gets its own git-ignored venv in the repo
# (the other reference, overcooked==0.2.1 for lossless observations, is in .venv's test extra)
REF_VENV  := .venv-ocai
REF_STAMP := $(REF_VENV)/.installed
REF_PKGS  := "overcooked-ai==1.1.0" "numpy<2" scipy

ref-venv: $(REF_STAMP)

$(REF_STAMP): Makefile
	@test -x $(REF_VENV)/bin/python || $(PYTHON) -m venv $(REF_VENV)
	$(REF_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(REF_VENV)/bin/python -m pip install --quiet $(REF_PKGS)
	$(REF_VENV)/bin/python -c "import overcooked_ai_py.mdp.overcooked_mdp"
	@touch $(REF_STAMP)

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
	rm -rf $(VENV) $(REF_VENV) build *.egg-info
