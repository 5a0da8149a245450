# Parley's front door. Every target installs what it needs first (scripts/install-deps).
#   make run     build a release binary and serve http://127.0.0.1:8080 (SQLite + files under ./data)
#   make test    build, then run every suite: unit, integration, and both under ASan/UBSan
#   make build   leave the binary at ./build/parley
#   make bench   Parley vs the reference Socket.IO + Redis server vs the floor, then the web client's
#                load and scroll in Chromium (docs/performance.md)
#   make fuzz    libFuzzer on each parser for FUZZ_SECONDS (default 60) each, with clang
.PHONY: all build run test bench fuzz deps clean format

# Every fuzz/fuzz_NAME.cpp is a target.
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.cpp,%,$(wildcard fuzz/fuzz_*.cpp))

FUZZ_SECONDS ?= 60

JOBS ?= 2
export CCACHE_SLOPPINESS = pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_DIR ?= $(HOME)/.cache/ccache

all: build

deps:
	@scripts/install-deps build

build: deps
	@[ -f build/build.ninja ] || cmake --preset release
	@cmake --build build -j $(JOBS) --target parley

run: build
	./build/parley serve

test:
	@scripts/install-deps test
	@scripts/run-tests

bench:
	@scripts/install-deps bench
	@[ -f build/build.ninja ] || cmake --preset release
	@cmake --build build -j $(JOBS) --target parley parley_loadgen parley_floor parley_write_path
	@python3 bench/run.py $(BENCH_ARGS)
	@scripts/bench-web

fuzz:
	@scripts/install-deps fuzz
	@[ -f build/fuzz/build.ninja ] || cmake --preset fuzz
	@cmake --build build/fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t && \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) build/fuzz/corpus/$$t fuzz/corpus/$$t || exit 1; \
	done

clean:
	rm -rf build

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')
