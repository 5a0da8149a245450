# Parley's front door. Every target installs what it needs first (scripts/install-deps).
#   make run     build a release binary and serve http://127.0.0.1:8080 (SQLite + files under ./data)
#   make test    build, then run every suite: unit, integration, and both under ASan/UBSan
#   make build   leave the binary at ./build/parley
#   make bench   Parley vs the reference Socket.IO + Redis server vs the floor (docs/performance.md)
.PHONY: all build run test bench deps clean format

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
	@cmake --build build -j $(JOBS) --target parley parley_loadgen parley_floor
	@python3 bench/run.py $(BENCH_ARGS)

clean:
	rm -rf build

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')
