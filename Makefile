# Two commands on a fresh machine: `make test` and `make reproduce` (both create .venv when absent).
# `make reproduce SKIP=ablation` leaves out stage 06; PARAMS=... picks another params file.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PARAMS ?= params/demo.yaml
SKIP   ?=

.PHONY: install test reproduce lab clean-results

# Reinstall only when the package list changes; the venv (torch is ~5 GB) is reused between runs.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	@$(PY) -c "import slamslib, torch, torchvision, pydensecrf, papermill"
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

reproduce: $(STAMP)
	$(VENV)/bin/slams reproduce --params $(PARAMS) $(foreach stage,$(SKIP),--skip $(stage))

lab: $(STAMP)
	$(VENV)/bin/slams lab

clean-results:
	rm -rf results/*/
