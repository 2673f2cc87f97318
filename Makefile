# TinyKV in Swift: build, test and run.
#
#   make run    install what is missing, build, and start a local cluster
#   make test   install what is missing, build, and run every test
#   make chaos  the chaos suite: seeded faults on a real cluster (CHAOS_MINUTES, default 30; CHAOS_SEED)
#
SHELL := /bin/bash
SWIFT ?= swift
BUILD_FLAGS ?=
VENV := .venv
PY := $(VENV)/bin/python
CHECK_PROTO ?= $(firstword $(wildcard ../shared/wire/check-proto) $(wildcard /work/shared/wire/check-proto))

DEB_PACKAGES := libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler librocksdb-dev libjemalloc-dev \
	python3-venv pkg-config iproute2 procps curl openssl
PY_PACKAGES := grpcio grpcio-tools protobuf pytest grpcio-reflection grpcio-health-checking

# proto/tipb/ holds the tipb package (proto2) that TinySQL sends inside coprocessor requests.
PROTO_FILES := $(sort $(wildcard proto/*.proto)) $(sort $(wildcard proto/tipb/*.proto))
# Every .proto, including proto/grpc/ (reflection, health): embedded for server reflection.
ALL_PROTO_FILES := $(sort $(shell find proto -name '*.proto'))
DESCRIPTORS_OUT := Sources/Operability/Generated/EmbeddedDescriptors.swift
C_OUT := Sources/CTinyKVProto
SWIFT_OUT := Sources/TinyKVProto/Generated
SWIFT_TEST_OUT := Tests/TinyKVProtoTests/Generated

.PHONY: all deps deps-apt deps-py build release proto check-proto test test-swift test-e2e test-long test-chaos chaos run clean bench test-bench-smoke \
	test-asan test-tsan fuzz fuzz-libfuzzer

all: build

## deps: Debian packages and the Python venv (idempotent)
deps: .deps-apt.stamp $(VENV)/.stamp

.deps-apt.stamp:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@touch $@

$(VENV)/.stamp:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q $(PY_PACKAGES)
	@touch $@

## build: debug build of every target
build: deps
	$(SWIFT) build $(BUILD_FLAGS)

release: deps
	$(SWIFT) build -c release $(BUILD_FLAGS)

## proto: regenerate protobuf-c C code and the Swift bridge from proto/
proto: deps
	rm -rf .build-proto && mkdir -p .build-proto/c
	protoc-c --c_out=.build-proto/c -Iproto $(PROTO_FILES)
	rm -f $(C_OUT)/*.pb-c.c $(C_OUT)/include/*.pb-c.h
	cp .build-proto/c/*.pb-c.c .build-proto/c/tipb/*.pb-c.c $(C_OUT)/
	cp .build-proto/c/*.pb-c.h $(C_OUT)/include/
	mkdir -p $(C_OUT)/include/tipb && rm -f $(C_OUT)/include/tipb/*.pb-c.h
	cp .build-proto/c/tipb/*.pb-c.h $(C_OUT)/include/tipb/
	protoc -Iproto --include_imports --descriptor_set_out=.build-proto/tinykv.desc $(PROTO_FILES)
	rm -f $(SWIFT_OUT)/*.swift $(SWIFT_TEST_OUT)/*.swift
	$(PY) tools/protogen/swift_wire_gen.py .build-proto/tinykv.desc $(C_OUT)/include $(SWIFT_OUT) $(SWIFT_TEST_OUT) tinykv
	protoc -Iproto --include_imports --descriptor_set_out=.build-proto/reflection.desc $(ALL_PROTO_FILES)
	$(PY) tools/protogen/embed_descriptors.py .build-proto/reflection.desc $(DESCRIPTORS_OUT)

check-proto: deps
	$(CHECK_PROTO) proto
	$(CHECK_PROTO) --schema $(dir $(CHECK_PROTO))schema-tipb.json proto/tipb

## test: the wire check, every Swift test, and the end-to-end tests over real processes
test: deps check-proto test-swift test-e2e test-chaos test-bench-smoke

test-swift: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(BUILD_FLAGS)

## test-long: the raft store scenarios with more seeds and longer rounds (RAFTSTORE_SEEDS=N seeds each;
## RAFTSTORE_SEED=N reruns one seed)
test-long: deps
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	RAFTSTORE_LONG=1 $(SWIFT) test --skip-build $(BUILD_FLAGS) --filter RaftStoreTests.ScenarioTests

test-e2e: deps build
	$(PY) -m pytest -q tests_e2e

## chaos: seeded faults (kill -9, SIGSTOP, partitions, packet loss, scheduler restarts, power loss)
## on 1 scheduler + 3/5 stores in network namespaces, under register and bank workloads;
## checks linearizability, the bank invariant and durability. Needs root (network namespaces).
CHAOS_MINUTES ?= 30
CHAOS_RUN_MINUTES ?= 10
CHAOS_SEED ?= $(shell date +%s)
chaos: deps build .deps-chaos.stamp
	$(PY) tests_chaos/chaos.py --minutes $(CHAOS_MINUTES) --run-minutes $(CHAOS_RUN_MINUTES) --seed $(CHAOS_SEED)

## test-chaos: the CI subset of the chaos suite (about 75 s: one 3-store run of 45 s of faults)
CHAOS_CI_SEED ?= $(shell date +%s)
test-chaos: deps build .deps-chaos.stamp
	$(PY) -m pytest -q tests_chaos/test_harness.py
	$(PY) tests_chaos/chaos.py --minutes 0.75 --run-minutes 0.75 --stores 3 --seed $(CHAOS_CI_SEED) --skip-unavailable

# iptables (faults between stores); a separate stamp so machines set up before the chaos suite get it.
.deps-chaos.stamp:
	@dpkg -s iptables >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables; }
	@touch $@

## test-bench-smoke: make bench's script end to end (both clusters, every workload, the targets
## table) with the debug binaries and 1-second runs: it checks that the benchmark works, not speed.
test-bench-smoke: deps build .deps-bench.stamp
	BIN=.build/debug SECONDS_PER_RUN=1 ROUNDS=2 OUT=.build/bench-smoke.md tools/bench.sh >/dev/null
	@for row in "raw put >= 1.0x etcd put" "linearizable get" "1-client put p50" "kvload txn-put" "2-key txn" "(2-key txn against tinykv-bench's raw put" "TSO unbatched" "TSO batched"; do \
	  grep -q "^| $$row" .build/bench-smoke.md || { echo "bench smoke: no '$$row' row in the targets table"; cat .build/bench-smoke.md; exit 1; }; \
	done; echo "bench smoke: every workload ran and every target row is there"

## bench: a standard benchmark set on a fresh local cluster, side by side with a 3-member etcd
bench: deps release .deps-bench.stamp
	tools/bench.sh

.deps-bench.stamp:
	@missing=""; for p in etcd-server libgrpc++-dev g++; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	@touch $@

## test-asan: the wire, storage and transport tests under AddressSanitizer (own scratch path)
ASAN_SCRATCH ?= .build-asan
ASAN_FILTER ?= TinyKVProtoTests|StorageTests|TransportTests
test-asan: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path $(ASAN_SCRATCH) $(BUILD_FLAGS)
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --skip-build --sanitize=address --scratch-path $(ASAN_SCRATCH) \
		--filter '$(ASAN_FILTER)' $(BUILD_FLAGS)

## test-tsan: wire and storage tests under ThreadSanitizer (clean). TransportTests are left out by
## default: libgrpc is not instrumented, so its completion-queue handoff looks like races (README
## "Sanitizers"); TSAN_FILTER='TransportTests' shows them. Not part of `make test`.
TSAN_SCRATCH ?= .build-tsan
TSAN_FILTER ?= TinyKVProtoTests|StorageTests
test-tsan: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path $(TSAN_SCRATCH) $(BUILD_FLAGS)
	$(SWIFT) test --skip-build --sanitize=thread --scratch-path $(TSAN_SCRATCH) --filter '$(TSAN_FILTER)' $(BUILD_FLAGS)

## fuzz: longer fuzzing runs than `make test` does: the wire mutator (FUZZ_ROUNDS x ~130k decodes)
## and every RPC of both servers (RPC_FUZZ_SECONDS each)
FUZZ_ROUNDS ?= 50
RPC_FUZZ_SECONDS ?= 120
fuzz: deps build
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	TINYKV_FUZZ_ROUNDS=$(FUZZ_ROUNDS) $(SWIFT) test --skip-build --filter FuzzTests $(BUILD_FLAGS)
	TINYKV_RPC_FUZZ_SECONDS=$(RPC_FUZZ_SECONDS) $(PY) -m pytest -q -s tests_e2e/test_fuzz_rpc.py

## fuzz-libfuzzer: libFuzzer + ASan over the wire bridge (swiftc -sanitize=fuzzer), LIBFUZZER_SECONDS long
LIBFUZZER_SECONDS ?= 300
fuzz-libfuzzer: deps
	tools/fuzz/libfuzzer.sh $(LIBFUZZER_SECONDS)

## run: a local cluster (one scheduler, three stores) with the embedded default config
run: build
	tools/run-cluster.sh

clean:
	rm -rf .build .build-proto
