# Thin wrapper over CMake. `make demo` and `make test` work on a fresh Debian
# machine as root: they install what is missing first.
BUILD        ?= build
BUILD_ASAN   ?= build-asan
BUILD_FUZZ   ?= build-fuzz
BUILD_TSAN   ?= build-tsan
BUILD_MBEDTLS ?= build-mbedtls
# The tests with threads: policy swaps under load, reports from concurrent
# handshakes, the adapters.
TSAN_TESTS   ?= test_ctx_swap test_report test_openssl_adapter test_curl_adapter
JOBS         ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
CTEST_FLAGS  ?= --output-on-failure

.PHONY: all deps build build-asan build-fuzz build-tsan build-mbedtls test test-asan test-tsan test-mbedtls test-valgrind fuzz fuzz-smoke demo bench install clean

all: build

deps:
	scripts/install-deps

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

build-asan:
	CC=clang cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DCERTPIN_SANITIZE=ON >/dev/null
	cmake --build $(BUILD_ASAN) -j $(JOBS)

# Only the threaded tests (and the library under them) are built with TSan.
build-tsan:
	CC=clang cmake -S . -B $(BUILD_TSAN) -DCMAKE_BUILD_TYPE=Debug -DCERTPIN_TSAN=ON >/dev/null
	cmake --build $(BUILD_TSAN) -j $(JOBS) --target certpin_cli $(TSAN_TESTS)

# libcertpin on mbedTLS (no OpenSSL): the library, its example client and
# its tests; the differential tests compare it with $(BUILD)'s certpin.
build-mbedtls:
	cmake -S . -B $(BUILD_MBEDTLS) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCERTPIN_CRYPTO=mbedtls \
	  -DCERTPIN_OPENSSL_BUILD=$(abspath $(BUILD)) >/dev/null
	cmake --build $(BUILD_MBEDTLS) -j $(JOBS)

build-fuzz:
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCERTPIN_FUZZ=ON >/dev/null
	cmake --build $(BUILD_FUZZ) -j $(JOBS)

# Everything: the normal build's whole suite; the whole suite again with
# every program built under ASan+UBSan (the CLI tests then run the sanitized
# certpin); the threaded unit tests under TSan; the unit tests and fuzz
# replays under valgrind; and a time-boxed libFuzzer run per target.
test: deps build build-asan
	cd $(BUILD) && ctest $(CTEST_FLAGS) -j $(JOBS)
	$(MAKE) --no-print-directory test-mbedtls
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-tsan
	$(MAKE) --no-print-directory test-valgrind
	$(MAKE) --no-print-directory fuzz-smoke

test-asan: build-asan
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest $(CTEST_FLAGS) -j $(JOBS) -L 'unit|fuzz|cli'

test-tsan: build-tsan
	cd $(BUILD_TSAN) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest $(CTEST_FLAGS) -R '^unit\.($(shell echo $(TSAN_TESTS) | tr ' ' '|'))$$'

test-mbedtls: build build-mbedtls
	cd $(BUILD_MBEDTLS) && ctest $(CTEST_FLAGS) -L mbedtls

test-valgrind: build
	scripts/valgrind-tests $(BUILD)

fuzz-smoke:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$${FUZZ_SMOKE_SECONDS:-15}

fuzz: deps build-fuzz
	scripts/run-fuzzers $(BUILD_FUZZ) $(FUZZ_SECONDS)

demo: deps build
	scripts/demo $(BUILD)

bench: deps
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCERTPIN_TESTS=OFF >/dev/null
	cmake --build build-bench -j $(JOBS) --target certpin_bench certpin_cli
	build-bench/certpin_bench
	$(MAKE) --no-print-directory build-mbedtls
	bench/mbedtls/run $(BUILD_MBEDTLS)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) $(BUILD_TSAN) $(BUILD_MBEDTLS) build-bench
