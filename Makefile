# Gradient Lab: `make demo` serves the dashboard, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8866
N ?= 5
CLIENT ?= browser
CACHE ?= off
POOL ?=
POOL_DELAY ?=
HUB ?=
HUB_PORT ?= 8000
HUB_STAMP := $(VENV)/.hub-installed
PROXY := .hub/node_modules/.bin/configurable-http-proxy

# Matplotlib's font cache per virtual environment: a cache shared between environments can list
# fonts another one removed, and its "findfont" warnings then reach the notebooks' outputs.
export MPLCONFIGDIR := $(abspath $(VENV))/matplotlib

.PHONY: demo warm test test-portable notebooks spread lint bench loadtest hub venv clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned in constraints.txt: its CPU build installs from local files
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Train the default config and every preset into the result cache (LAB_CACHE_DIR; default
# ~/.cache/gradient-lab/runs), one thread as in the kernels: the dashboard then shows them at
# once. ~20 s the first time, ~1 s after that (all hits); a no-op with LAB_CACHE_DIR= (off).
warm: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m lab warm

# config/voila.py: preheated kernel pool, idle-kernel culling, cell timeout, no tracebacks.
# One torch/OpenMP thread per kernel (kernels inherit voila's environment). For a class that
# arrives at once: `make demo POOL=20 POOL_DELAY=90` (README: Serving a class).
demo: $(STAMP) warm
	@echo "Gradient Lab on http://localhost:$(PORT)  (Ctrl-C stops it)"
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 LAB_POOL=$(POOL) LAB_POOL_DELAY=$(POOL_DELAY) \
		$(BIN)/voila notebooks/dashboard.ipynb --port=$(PORT) --no-browser \
		--Voila.ip=127.0.0.1 --theme=light --Voila.config_file_paths=config

# Each notebook runs once, under nbval: outputs that are the same on every machine are compared
# exactly; trained numbers are checked by their claims (README: Lessons, what is compared).
test: $(STAMP)
	$(BIN)/ruff check lab tests tools config
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -p no:cacheprovider --nbval tests notebooks

# The notebooks and the presets' claims again under torch's generic kernels and MKL's
# reproducible code path, as on a CPU unlike this one (CI runs it after `make test`).
test-portable: $(STAMP)
	ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE OMP_NUM_THREADS=1 $(BIN)/python -m pytest \
		-p no:cacheprovider --nbval notebooks tests/test_presets.py

# Re-execute every notebook and save its outputs, on any machine (~5 min).
notebooks: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py notebooks/*.ipynb notebooks/zh/*.ipynb

# Measure every claim over 3 seeds x 2 CPU kernel settings into docs/claims.json (~30 min).
spread: $(STAMP)
	$(BIN)/python tools/spread.py

lint: $(STAMP)
	$(BIN)/ruff check lab tests tools config

bench: $(STAMP)
	$(BIN)/python -m lab.bench

# JupyterHub on this machine (README: More students): a server per student, each opening the
# dashboard with the demo's viewer settings (config/jupyterhub_config.py). Log in at
# http://127.0.0.1:$(HUB_PORT) with any name and password: the dummy authenticator, so the hub
# listens on 127.0.0.1 only. Needs the [hub] extra and node's npm (configurable-http-proxy goes
# into .hub/, which git ignores). Not part of `make test`.
$(HUB_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,hub]'
	touch $(HUB_STAMP)

$(PROXY):
	npm install --prefix .hub --no-audit --no-fund configurable-http-proxy@5

hub: $(HUB_STAMP) $(PROXY) warm
	@echo "JupyterHub on http://127.0.0.1:$(HUB_PORT)  (any name and password; Ctrl-C stops it)"
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/jupyterhub -f config/jupyterhub_config.py \
		--port=$(HUB_PORT)

# Not part of `make test`: N viewers at once on `make demo`'s server (README: Serving a class).
# `make loadtest N=20`, or CLIENT=ws for protocol clients instead of headless chromium pages;
# CACHE=off (default: every run trains), fresh (identical configs train once) or env.
# HUB=1 CLIENT=ws: N students log in to `make hub`'s JupyterHub, each on a server of their own.
loadtest: $(STAMP) $(if $(HUB),$(HUB_STAMP) $(PROXY))
	$(BIN)/python tools/loadtest.py --sessions $(N) --client $(CLIENT) --cache $(CACHE) --pool "$(POOL)" \
		--pool-delay "$(POOL_DELAY)" $(if $(HUB),--hub)

clean:
	rm -rf $(VENV) build *.egg-info
