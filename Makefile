# Weft: the commands a person (and CI) runs. Builds use CMake + Ninja.
#
#   make run             build (Release) and run the example mesh (weft-control + sidecars) with traffic, ~25 s
#   make run KEEP=1      ... and keep it up until Ctrl-C
#   make test            build (RelWithDebInfo) and run unit + integration tests
#   make test-sanitize   the same tests with AddressSanitizer + UBSan (build-asan/)
#   make fuzz            libFuzzer targets, FUZZ_SECONDS (default 60) each (build-fuzz/)
#   make bench           benchmarks against nginx and HAProxy (writes bench/RESULTS.md)
#   make format          clang-format the C++ sources
#   make clean           remove the build directories

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BUILD_DIR    ?= build
ASAN_DIR     ?= build-asan
FUZZ_DIR     ?= build-fuzz
FUZZ_SECONDS ?= 60
KEEP         ?= 0
JOBS         ?= 2
CTEST_JOBS   ?= 2

# The Python that runs the integration tests must have pytest (Debian's python3-pytest lives
# in the system interpreter; a python3 earlier on PATH may not have it).
PYTHON ?= $(shell for p in /usr/bin/python3 python3; do \
            if command -v $$p >/dev/null 2>&1 && $$p -c 'import pytest' >/dev/null 2>&1; then \
              command -v $$p; break; fi; done)
PYTHON_FLAG = $(if $(PYTHON),-DPython3_EXECUTABLE=$(PYTHON),)

CMAKE_CONFIGURE = cmake -G Ninja -Wno-dev $(PYTHON_FLAG)

# GCC 12 reports a false -Wrestrict inside std::string at -O3 (GCC bug 105329), which -Werror
# turns into a failed Release build. Release builds of GCC leave that one warning out.
RELEASE_CXXFLAGS ?= $(shell $${CXX:-c++} --version 2>/dev/null | grep -qi 'free software' && echo -Wno-restrict)

.PHONY: help deps build-release build-test run test test-sanitize fuzz bench format clean

help:
	@sed -n '3,10p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@bash scripts/deps.sh

build-release: deps
	@echo "==> configure $(BUILD_DIR)/ (Release)"
	@$(CMAKE_CONFIGURE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS=$(RELEASE_CXXFLAGS)" >/dev/null
	@echo "==> build $(BUILD_DIR)/ (Release, weft-proxy and weft-control)"
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target weft-proxy --target weft-control

build-test: deps
	@echo "==> configure $(BUILD_DIR)/ (RelWithDebInfo)"
	@$(CMAKE_CONFIGURE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS=" >/dev/null
	@echo "==> build $(BUILD_DIR)/ (RelWithDebInfo)"
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build-release
	@KEEP=$(KEEP) WEFT_BIN_DIR=$(abspath $(BUILD_DIR))/bin bash examples/bookinfo/run.sh

test: build-test
	@echo "==> ctest in $(BUILD_DIR)/ (unit + integration)"
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(CTEST_JOBS)

test-sanitize: deps
	@echo "==> configure $(ASAN_DIR)/ (ASan + UBSan)"
	@$(CMAKE_CONFIGURE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_SANITIZE=ON >/dev/null
	@echo "==> build $(ASAN_DIR)/"
	@cmake --build $(ASAN_DIR) -j $(JOBS)
	@echo "==> ctest in $(ASAN_DIR)/ (unit + integration, sanitized)"
	@cd $(ASAN_DIR) && \
	  ASAN_OPTIONS=$${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:strict_string_checks=1} \
	  UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	  ctest --output-on-failure -j $(CTEST_JOBS)

fuzz: deps
	@echo "==> configure $(FUZZ_DIR)/ (clang, libFuzzer)"
	@CC=clang CXX=clang++ $(CMAKE_CONFIGURE) -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_FUZZ=ON >/dev/null
	@FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) bash scripts/fuzz.sh

bench:
	@bash scripts/deps.sh --bench
	@bash bench/run $(BENCH_ARGS)

format:
	@command -v clang-format >/dev/null || { echo "clang-format not found: run scripts/deps.sh"; exit 1; }
	@find proxy control-plane tests examples -type f \( -name '*.cc' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \) -print0 \
	  | xargs -0 -r clang-format -i
	@echo "==> formatted"

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR) bench/out
