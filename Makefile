# The two commands: `make demo` runs the simulated fleet, `make test` runs every test.
# Both do all the setup they need (scripts/setup.sh is idempotent and quick when done).

ROBOTS ?= 5
PORT ?= 8080
MISSIONS ?= 1
WEB_CONFIG ?=
KEEP ?= 0
PYTEST_ARGS ?=
# Test processes (pytest-xdist workers; 0 runs in one process). Files are the unit of work, so
# a module's fleet of processes stays in one worker.
TEST_WORKERS ?= 2
# DDS discovery stays on this machine unless the caller chose otherwise.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST

RUN = bash -c '. scripts/env.sh && exec "$$@"' --

.PHONY: all setup build demo test bench clean help

all: help

help:
	@echo 'make demo   run the simulated fleet (ROBOTS=$(ROBOTS) PORT=$(PORT) MISSIONS=$(MISSIONS)'
	@echo '            WEB_CONFIG=path/to/web.yaml KEEP=1 to go on from the previous run)'
	@echo 'make test   run every test (TEST_WORKERS=$(TEST_WORKERS), PYTEST_ARGS="-k name" to select)'
	@echo 'make bench  run the benchmarks in bench/'
	@echo 'make setup  only set up .venv and build the workspace'

setup:
	@scripts/setup.sh

build: setup

demo: setup
	@$(RUN) python -m fleet_sim.demo --robots $(ROBOTS) --port $(PORT) --missions $(MISSIONS) \
		$(if $(WEB_CONFIG),--web-config '$(WEB_CONFIG)') $(if $(filter 1,$(KEEP)),--keep-state)

test:
	@scripts/setup.sh --test-deps
	@$(RUN) python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15 $(PYTEST_ARGS)

bench: setup
	@$(RUN) python bench/run_all.py

clean:
	rm -rf build install log demo .pytest_cache
