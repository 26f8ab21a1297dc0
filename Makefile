# ASU RSO: every command a person runs. `make help` lists them.

SHELL := /bin/bash
CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
DEVSTACK := $(TARGET_DIR)/debug/devstack
# The tests' Python programs (make deps puts them there).
export ASURSO_PYTHON ?= $(CURDIR)/.run/venv/bin/python

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

.PHONY: deps
deps: ## install PostgreSQL and nats-server when missing (Debian), or say what to install
	@bash deploy/local/deps.sh

.PHONY: build
build: ## build every crate and binary
	$(CARGO) build --workspace --all-targets

.PHONY: run
run: deps ## start PostgreSQL and NATS (own ones unless DATABASE_URL/NATS_URL are set) and every service; Ctrl-C stops all
	$(CARGO) build --workspace --bins
	$(DEVSTACK) run --data $(CURDIR)/.run/dev

.PHONY: lint
lint: ## format check and clippy with warnings denied
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: test
test: deps lint ## lint, then every test against real PostgreSQL and NATS (throw-away ones unless configured)
	$(CARGO) build --workspace --bins
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(DEVSTACK) test --data $(CURDIR)/.run/test -- $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		echo "cargo-nextest not found: running cargo test (install cargo-nextest for parallel runs)"; \
		$(DEVSTACK) test --data $(CURDIR)/.run/test -- $(CARGO) test --workspace --no-fail-fast; \
	fi

.PHONY: bench
bench: deps ## the diary week against the bare database (8 and 256 callers, one school and ten), directly and through the gateway; weeks computed/s; attendance takes and reads; inboxes, boards and a letter to a school; a mark to the parent's stream at 100 and 1,000/s; GOST verify and sign (ESIA logins); each service's resident memory after an evening and a minute idle (optimised build; minutes)
	$(CARGO) build --release --workspace --bins
	$(CARGO) bench -p asurso-gradebook --bench diary_week
	$(CARGO) bench -p asurso-gateway --bench through_gateway
	$(CARGO) bench -p asurso-attendance --bench attendance
	$(CARGO) bench -p asurso-messaging --bench messaging
	$(CARGO) bench -p asurso-notifications --bench mark_to_stream
	$(CARGO) bench -p asurso-gost --bench gost
	$(CARGO) bench -p asurso-e2e --bench resident

# Where `make images` tags the images: REGISTRY=registry.region.example/ TAG=0.1.0
REGISTRY ?=
TAG ?= dev
IMAGES := identity gradebook attendance messaging notifications gateway

.PHONY: images
images: ## build a container image per service (needs Docker with BuildKit; REGISTRY=…/ TAG=…)
	@for service in $(IMAGES); do \
		target=service; [ "$$service" = identity ] && target=identity; \
		echo "building $(REGISTRY)asurso/$$service:$(TAG)"; \
		DOCKER_BUILDKIT=1 docker build -f deploy/images/Dockerfile --build-arg SERVICE=$$service \
			--target $$target -t $(REGISTRY)asurso/$$service:$(TAG) . || exit 1; \
	done

.PHONY: fmt
fmt: ## format the code
	$(CARGO) fmt --all

.PHONY: clean
clean: ## remove build output and local server data
	$(CARGO) clean
	@# A checkout the postgres user may not enter keeps its cluster elsewhere
	@# and names the place in relocated-to.
	@cat .run/*/postgres/relocated-to 2>/dev/null | while read -r dir; do \
		[ -f "$$dir/data/PG_VERSION" ] && rm -rf "$$dir"; done; true
	rm -rf .run
