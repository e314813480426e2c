# The README's commands. `make run` and `make test` set up a fresh Debian 12 machine first.
.PHONY: setup build run test unit e2e bench bench-gateway bench-local bench-stream-gaps fuzz pgo clean

JOBS ?= $(shell nproc)

setup:
	@scripts/setup.sh

# Through ccache when present (scripts/ccache.sh), as every keel build.
build: setup
	@cmake --preset release $$(scripts/ccache.sh) >/dev/null
	@cmake --build build -j $(JOBS)

run: build
	@scripts/run.sh

unit: build
	cd build && ctest -L unit --output-on-failure -j $(JOBS)

e2e: build
	cd tests/e2e && KEEL_BIN=$(CURDIR)/build/keel node --test --test-concurrency=1 *.test.mjs

# Every stage (scripts/test.sh): unit, e2e, fuzz, ASan+UBSan and TSan builds with their tests.
# KEEL_TEST_QUICK=1: unit and e2e only. KEEL_TEST_FUZZ_SECONDS: fuzzing per target (default 5).
test: build
	@scripts/test.sh

# Gateway benchmark (bench/README.md): keel vs nginx and Portkey's gateway in front of one mock.
# BENCH_BUILD_DIR=build-perf benchmarks another build of keel (rebuilt first; it must be
# configured already).
BENCH_BUILD_DIR ?= build
bench-gateway: $(if $(filter build,$(BENCH_BUILD_DIR)),build,setup)
	@$(if $(filter build,$(BENCH_BUILD_DIR)),,cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target keel &&) \
	  BENCH_BUILD_DIR=$(BENCH_BUILD_DIR) bench/run.sh

# Every benchmark, one after the other on the same machine (bench/README.md says which changes
# call for which): the gateway, the local engine, and a slow stream's gaps through keel and nginx.
bench: bench-gateway bench-local bench-stream-gaps

# Local engine benchmark (bench/README.md): keel's llama.cpp engine vs llama-server, same model
# (../shared/models/stories260K.gguf), at every thread count from 1 to the cores, streamed and
# not, with inter-token gaps; appends to bench/RESULTS.md.
bench-local: build
	@KEEL_BIN=$(CURDIR)/build/keel node bench/local.mjs

# A slow-streaming upstream (a chunk per ms) through keel and through nginx: inter-chunk gaps
# (bench/README.md); appends to bench/RESULTS.md.
bench-stream-gaps: build
	@KEEL_BIN=$(CURDIR)/build/keel node bench/stream_gaps.mjs

# Profile-guided Release build (scripts/pgo.sh): build-pgo/keel, instrumented, trained with the
# gateway benchmark's mock and wrk, then rebuilt with the profile.
pgo: setup
	@scripts/pgo.sh

# libFuzzer targets (clang, ASan+UBSan): replay the corpora and regressions, then fuzz each
# target FUZZ_SECONDS (default 20).
fuzz: setup
	@scripts/fuzz.sh $(or $(FUZZ_SECONDS),20)

clean:
	rm -rf build build-dev build-asan build-tsan build-fuzz build-pgo
