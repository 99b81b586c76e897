# Gradient Lab: `make demo` serves the dashboard, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8866

.PHONY: demo test lint bench venv clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned in constraints.txt: its CPU build installs from local files
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@echo "Gradient Lab on http://localhost:$(PORT)  (Ctrl-C stops it)"
	$(BIN)/voila notebooks/dashboard.ipynb --port=$(PORT) --no-browser \
		--Voila.ip=127.0.0.1 --theme=light

test: $(STAMP)
	$(BIN)/ruff check lab tests
	$(BIN)/python -m pytest -p no:cacheprovider --nbval tests notebooks

lint: $(STAMP)
	$(BIN)/ruff check lab tests

bench: $(STAMP)
	$(BIN)/python -m lab.bench

clean:
	rm -rf $(VENV) build *.egg-info
