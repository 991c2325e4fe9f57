# Two commands for a newcomer: `make demo` (the main job against the local stand-in) and `make test`
# (every test layer). Both install what they need from scratch: the Python venv, the stand-in, the engine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQ_HASH)

.PHONY: venv lint test test-unit test-standin test-integration test-e2e standin engine demo bench clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

test-unit: venv
	$(BIN)/pytest tests/unit

standin:
	@standin/build.sh >/dev/null

test-standin:
	cd standin && go vet ./... && go test -count=1 ./...

test-integration: venv standin
	$(BIN)/pytest tests/integration

engine:
	@tools/engine.sh env >/dev/null

# The e2e layer needs only the engine and the dynamic-provider launcher (the zitadel plugin cannot be built
# here, see tools/README.md): a missing engine fails the target; a missing plugin is reported in one line.
test-e2e: venv standin
	@env_sh="$$(tools/engine.sh env --without-zitadel)" || { \
	  echo "test-e2e: FAILED: no Pulumi engine (tools/engine.sh env --without-zitadel exited $$?, reason above)" >&2; \
	  exit 1; }; \
	eval "$$env_sh"; \
	if [ -z "$$ZB_ZITADEL_PLUGIN" ]; then \
	  echo "test-e2e: BLOCKED: issue 4's zitadel-plugin parts (MachineUser/MachineKey/OrgMember created and destroyed by the engine) cannot run: pulumi-resource-zitadel 0.2.0 cannot be had here (tools/README.md); the e2e tests create those identities through the stand-in's control API instead"; \
	else \
	  echo "test-e2e: note: the zitadel plugin is installed, but this layer creates identities through the stand-in's control API, not through the plugin"; \
	fi; \
	$(BIN)/pytest tests/e2e

# Every layer, in order of cost; a layer that cannot run fails the target and says why.
test: lint test-unit test-standin test-integration test-e2e

# The whole program when the zitadel plugin is installed; otherwise a partial demo that says so (tools/demo.py).
demo: venv standin
	@env_sh="$$(tools/engine.sh env --without-zitadel)" || { echo "demo: no Pulumi engine (reason above)" >&2; exit 1; }; \
	eval "$$env_sh"; $(BIN)/python -m tools.demo

# Figures, not tests: the verifier's latency and requests, and engine timings of the verification resources.
bench: venv standin
	@env_sh="$$(tools/engine.sh env --without-zitadel)" || { echo "bench: no Pulumi engine (reason above)" >&2; exit 1; }; \
	eval "$$env_sh"; $(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pulumi-state .standin standin/bin
