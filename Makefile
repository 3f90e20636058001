# cohort — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
DEMO_DB ?= demo-store
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# The demo runs the binary that `make test` builds: the dev profile builds
# dependencies (RocksDB included) optimised, and building it the same way as
# the tests keeps RocksDB's C++ compiled once, not once per feature set.
COHORT = $(TARGET_DIR)/debug/cohort
BUILD = $(CARGO) test --workspace --profile dev --no-run

.PHONY: all deps build test demo lint fmt bench bench-ingest-compare bench-compare bench-serve bench-live fuzz fuzz-eval clean

all: build

# RocksDB's bindings need libclang at build time. Install it when missing
# (Debian/Ubuntu, as root or with sudo); otherwise say what to do.
deps:
	@if ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 || [ -n "$${LIBCLANG_PATH:-}" ]; then \
		true; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "installing libclang-dev (needed to build RocksDB's bindings)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libclang-dev >/dev/null; \
	else \
		echo "cohort needs libclang to build RocksDB; install libclang (e.g. libclang-dev) or set LIBCLANG_PATH" >&2; exit 1; \
	fi

build: deps
	$(BUILD)

# Every test of the workspace (unit, integration, doc tests, the crash test,
# the real-data tests). Long fuzzing and benchmarks are separate targets.
# `--profile dev` makes tests share the dev build of RocksDB's C++ with
# clippy and the demo (the default `test` profile would compile it again).
test: deps
	$(CARGO) test --workspace --profile dev

# The main job on built-in sample data: ingest the real CDNOW purchases into a
# fresh store, then show the catalog and one customer's recent events.
demo: deps
	$(BUILD)
	rm -rf $(DEMO_DB)
	$(COHORT) ingest --db $(DEMO_DB) testdata/cdnow.ndjson.gz
	@echo; echo "== the same file again: loads resume where they stopped, so nothing is stored twice"
	$(COHORT) ingest --db $(DEMO_DB) testdata/cdnow.ndjson.gz
	@echo; echo "== cohort catalog --db $(DEMO_DB)"
	$(COHORT) catalog --db $(DEMO_DB)
	@echo; echo "== cohort events --db $(DEMO_DB) --user 07592 --limit 5"
	$(COHORT) events --db $(DEMO_DB) --user 07592 --limit 5
	@echo; echo "== cohort events --db $(DEMO_DB) --limit 5"
	$(COHORT) events --db $(DEMO_DB) --limit 5
	@echo; echo "== lapsed repeat buyers on 1998-07-01"
	$(COHORT) eval --db $(DEMO_DB) --now 1998-07-01 'count(purchase) >= 3 and last(purchase) < now - 180d'
	@echo; echo "== why customer 07592 is in or out"
	$(COHORT) explain --db $(DEMO_DB) --now 1998-07-01 --user 07592 'count(purchase) >= 3 and last(purchase) < now - 180d'
	@echo; echo "== profiles: tags and attributes, with history (testdata/cdnow-profiles.ndjson)"
	$(COHORT) ingest --db $(DEMO_DB) testdata/cdnow-profiles.ndjson
	$(COHORT) profile --db $(DEMO_DB) --user 07592 --now 1998-07-01
	@echo; echo "== a tag segment: gold-tier customers who bought in the last 90 days, on 1998-07-01"
	$(COHORT) eval --db $(DEMO_DB) --now 1998-07-01 --format ids 'tag.tier = "gold" and did(purchase, last 90d)'
	$(COHORT) explain --db $(DEMO_DB) --now 1998-07-01 --user 07592 'tag.tier = "gold" and age >= 30 and did(purchase, last 90d)'
	@echo; echo "== a personalised message for customer 07592: a Liquid template over the profile and the latest purchase"
	$(COHORT) render --db $(DEMO_DB) --now 1998-07-01 --user 07592 --entry-event-type purchase \
	  'Hi {{ name | default: "there" }}! Thanks for your {{ entry_event.data.cds }} CDs ($${{ entry_event.data.dollarValue }}) on {{ entry_event.createdAt | date: "%B %-d, %Y" }}. As a {{ tags.tier | default: "valued" | capitalize }} member you save 10% on your next order.'
	@echo
	@echo; echo "== cohort serve: the track API and the segment API over HTTP (scripts/serve-demo.sh)"
	scripts/serve-demo.sh $(COHORT)
	@echo; echo "== 300,000 generated app events with tags and attributes (cohort gen --profiles), the benchmark segments timed warm"
	@echo "   (this binary is the dev build; BENCHMARKS.md has release figures against DuckDB and ClickHouse)"
	rm -rf $(DEMO_DB)-generated
	$(COHORT) gen --users 5000 --events 300000 --days 180 --profiles --out $(DEMO_DB)-generated.ndjson
	$(COHORT) ingest --system --db $(DEMO_DB)-generated $(DEMO_DB)-generated.ndjson
	rm -f $(DEMO_DB)-generated.ndjson
	$(COHORT) bench --db $(DEMO_DB)-generated --now 2026-01-01 --segments benches/compare/segments.toml --runs 5
	@echo; echo "== the generated tags: pro-plan users with a purchase in the last 30 days"
	$(COHORT) eval --db $(DEMO_DB)-generated --now 2026-01-01 'tag.plan = "pro" and did(purchase, last 30d)'

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench: deps
	$(CARGO) bench -p cohort-benches

# Ingest throughput of cohort (criterion) and DuckDB's read_json on the same
# file, in one run. Needs Python with pip (installs benches/compare/requirements.txt).
bench-ingest-compare: deps
	python3 -m pip install -q -r benches/compare/requirements.txt
	$(CARGO) bench -p cohort-benches --bench ingest -- --noplot
	python3 benches/compare/ingest_duckdb.py testdata/cdnow.ndjson.gz

# cohort vs DuckDB vs ClickHouse (chDB) on the ten benchmark segments, same
# generated data, machine and run; checks identical members; also times
# ingest and cohort on twice the history. See BENCHMARKS.md. Sizes:
#   make bench-compare COMPARE_ARGS="--users 20000 --events 1000000"
COMPARE_ARGS ?= --users 200000 --events 10000000 --days 365 --runs 11 --history
bench-compare: deps
	python3 -m pip install -q -r benches/compare/requirements.txt
	$(CARGO) build --release --bin cohort
	python3 benches/compare/compare.py --cohort $(TARGET_DIR)/release/cohort $(COMPARE_ARGS) --report bench-compare.md

# Loopback load runs against `cohort serve` with wrk (installed when missing):
# track requests of 100 and 1 events from 32 connections against `cohort
# ingest` of the same generated file, and the member check on that store.
# See BENCHMARKS.md ("Issue 11"). Sizes: make bench-serve SERVE_ARGS="--events 1000000 --users 20000"
SERVE_ARGS ?=
bench-serve: deps
	@command -v wrk >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get install -y -qq wrk >/dev/null; }
	$(CARGO) build --release --bin cohort
	python3 benches/server/bench_server.py --cohort $(TARGET_DIR)/release/cohort $(SERVE_ARGS) --report bench-serve.md

# Live segments (issue 12; BENCHMARKS.md): track requests with 100 live
# segments against none, then a wave of 1 M deadlines due at one instant
# under track load against a control. Both send the request bodies that
# `make bench-serve` writes; ~20 min.
LIVE_BODIES ?= /var/tmp/cohort-serve-bench/bodies-100.txt
bench-live: deps
	@command -v wrk >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get install -y -qq wrk >/dev/null; }
	@test -f $(LIVE_BODIES) || { echo "no $(LIVE_BODIES): run make bench-serve first"; exit 1; }
	$(CARGO) build --release --bin cohort
	python3 benches/server/bench_live.py --cohort $(TARGET_DIR)/release/cohort --bodies $(LIVE_BODIES) --live 100 --seconds 15
	python3 benches/server/bench_sweep.py --cohort $(TARGET_DIR)/release/cohort --bodies $(LIVE_BODIES)

# Long fuzzing, not part of `make test`. FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz:
	mkdir -p fuzz/corpus/validate_event
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run validate_event corpus/validate_event seeds/validate_event -- -max_total_time=$(FUZZ_SECONDS)
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run track_request -- -max_total_time=$(FUZZ_SECONDS)
	mkdir -p fuzz/corpus/parse_filter fuzz/corpus/filter_roundtrip
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run parse_filter corpus/parse_filter seeds/parse_filter -- -max_total_time=$(FUZZ_SECONDS)
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run filter_roundtrip corpus/filter_roundtrip seeds/parse_filter -- -max_total_time=$(FUZZ_SECONDS)
	mkdir -p fuzz/corpus/render_template
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run render_template corpus/render_template seeds/render_template -- -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=4096

# The evaluator differential fuzz target links RocksDB (a long first build).
fuzz-eval:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --fuzz-dir fuzz/eval fast_equals_reference -- -max_total_time=$(FUZZ_SECONDS)

clean:
	$(CARGO) clean
	rm -rf $(DEMO_DB) $(DEMO_DB)-generated
