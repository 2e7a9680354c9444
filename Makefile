# One way to run each check. Every target sets up what it needs first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= development.ini
PORT   ?=
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install run test test-unit lint format typecheck bench servers clean seaweedfs

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): service/pyproject.toml client/pyproject.toml requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e './service[influxdb2,postgres,export,kafka]' -e './client[collect,probe]' -r requirements-dev.txt
	touch $@

install: $(STAMP)  ## create .venv and install both packages with the dev tools

run: install  ## create a development secret, access file and token if absent, then serve on 127.0.0.1:20080 (or PORT=...)
	$(BIN)/stats-service --config $(CONFIG) dev-setup
	$(BIN)/stats-service --config $(CONFIG) serve$(if $(PORT), --port $(PORT))

servers:  ## install the real servers the integration tests start (Debian: influxdb, prometheus, postgresql)
	@command -v influxd >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 \
	  && command -v promtool >/dev/null 2>&1 || { \
	  echo "installing Debian packages influxdb prometheus"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
	    --no-install-recommends influxdb prometheus; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian package postgresql"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
	    --no-install-recommends postgresql; }

# SeaweedFS (the S3 server of the export tests), built once from the Go module
# proxy into a cache outside the clone; Go's own module and build caches make
# a rebuild after `make clean` or in a fresh clone quick.
GO           ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
WEED_MODULE  := github.com/seaweedfs/seaweedfs
WEED_VERSION := v0.0.0-20261109003541-7506e5f91cd6
WEED_CACHE   ?= $(HOME)/.cache/stats-service
WEED_BIN     := $(WEED_CACHE)/seaweedfs-$(WEED_VERSION)/weed

seaweedfs: $(WEED_BIN)  ## build the SeaweedFS S3 server for the export tests (once; cached in ~/.cache/stats-service)
	@mkdir -p $(WEED_CACHE)/bin && ln -sfn $(WEED_BIN) $(WEED_CACHE)/bin/weed

$(WEED_BIN):
	@mkdir -p $(dir $@) $(WEED_CACHE)/bin
	GOFLAGS=-mod=readonly $(GO) mod download $(WEED_MODULE)@$(WEED_VERSION)
	cd "$$($(GO) env GOMODCACHE)/$(WEED_MODULE)@$(WEED_VERSION)" && \
	  CGO_ENABLED=0 $(GO) build -trimpath -o $@.partial ./weed
	mv $@.partial $@

test: install servers seaweedfs kafka chromium  ## the whole suite: unit, contract and integration (real uvicorn, real influxd)
	$(BIN)/python -m pytest

.PHONY: chromium
chromium:  ## install Debian's chromium, the browser the console's browser tests drive
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian package chromium"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
	    --no-install-recommends chromium; }

test-unit: install  ## the fast tests only (no servers)
	$(BIN)/python -m pytest tests/unit tests/contract

lint: install  ## ruff (lint + format check) and mypy strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install  ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(BIN)/python -m pip install -q -c constraints.txt -r requirements-bench.txt
	touch $@

TELEGRAF_BIN := $(HOME)/.cache/stats-service/telegraf/bin
TELEGRAF_TAGS := custom,inputs.influxdb_v2_listener,outputs.influxdb

.PHONY: telegraf
telegraf:  ## build Telegraf (listener + InfluxDB output only), the batch benchmark's peer; cached
	@test -x $(TELEGRAF_BIN)/telegraf || GOBIN=$(TELEGRAF_BIN) go install -tags "$(TELEGRAF_TAGS)" \
	  github.com/influxdata/telegraf/cmd/telegraf@v1.32.3 \
	  || echo "telegraf could not be built; the batch benchmark skips its peer"

bench: $(BENCH_STAMP) servers telegraf kafka  ## side-by-side benchmarks (wrk, loopback); results under benchmarks/results/
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian package wrk"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q wrk; }
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.monitors

.PHONY: probe-demo
probe-demo: install  ## stats-probe against a local service behind a fault-injecting proxy (Ctrl-C stops)
	$(BIN)/stats-probe demo

clean:  ## remove the virtualenv, caches and local data
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis

KAFKA_CACHE := $(HOME)/.cache/stats-service/kafka-4.4.0

.PHONY: kafka
kafka:  ## resolve the Apache Kafka 4.4.0 broker (KRaft) with Maven into a cache; Java 17+; cached
	@test -s $(KAFKA_CACHE)/classpath || { command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1 || { \
	  echo "installing Debian packages maven openjdk-17-jre-headless"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
	    --no-install-recommends maven openjdk-17-jre-headless; }; \
	  mkdir -p $(KAFKA_CACHE) && mvn -q -B -f deploy/kafka/pom.xml dependency:build-classpath \
	    -Dmdep.outputFile=$(KAFKA_CACHE)/classpath.tmp \
	  && mv $(KAFKA_CACHE)/classpath.tmp $(KAFKA_CACHE)/classpath; }
