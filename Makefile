# fdm: one entry point. Non-recursive: each part adds its objects, programs and
# tests in its own fragment (fdm/fdm.mk, datastore/datastore.mk, ...).
#   make            build everything into build/
#   make test       every test: unit (cmocka), datastore, hostd-shim, cluster, sim, then
#                   `make check`, then each fuzz target for 30 s. This is the
#                   README's test command (needs root).
#   make unit       the unit tests only (fast, no root)
#   make sim        the deterministic simulator's CI batch (tests/sim, no root; in test)
#   make sim-mutants  the simulator against each FDM_MUTANT_* build of the core
#   make check      rebuild with -fsanitize=address,undefined into build-asan/,
#                   run the unit tests and CHECK_TESTS there, then the unit tests
#                   under valgrind
#   make install    PREFIX=/usr/local DESTDIR= (programs, man pages, units, completion)
#   make deb        Debian packages fdm and fdm-hostd-shim into build/packages/
#   make rpm        the same as RPMs (rpmbuild) into build/packages/
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each (tests/fuzz/)
#   make bench      benchmark table (bench/bench.py, ROWS=election,...; needs root)
#   make demo       a local demo cluster in network namespaces (needs root)

BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
SAN     ?=
CC      ?= cc

PKGS := libvirt libnfs libiscsi libprotobuf-c libsystemd inih json-c libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# Every program links only the libraries it uses (so the agent's package does not
# pull in libvirt, nor the shim's libnfs): each fragment names its own with
# libs_of. PKG_LIBS (all of them) is for tests and fuzz targets only.
libs_of = $(shell pkg-config --libs $(1) 2>/dev/null)
PKG_LIBS   := $(call libs_of,$(PKGS))
CMOCKA_LIBS := $(call libs_of,cmocka)
# What lib/ and the generated proto need: every program links these (libsystemd:
# lib/log.c sends to the journal).
LIB_LIBS := $(call libs_of,inih libprotobuf-c libcrypto libsystemd)

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread \
           -I. -I$(BUILD)/gen $(PKG_CFLAGS) $(SAN)
LDFLAGS += -pthread $(SAN)

BINS :=
UNIT_TESTS :=
SYSTEM_TESTS :=
FUZZERS :=
# System tests that are quick and self-contained enough to run again against the
# sanitizer build in `make check` (daemons under ASan/UBSan).
CHECK_TESTS :=

all: build-all

# ---------------------------------------------------------------- generated proto
$(BUILD)/gen/proto/fdm.pb-c.c $(BUILD)/gen/proto/fdm.pb-c.h &: proto/fdm.proto
	@mkdir -p $(BUILD)/gen/proto
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen/proto proto/fdm.proto

$(BUILD)/gen/proto/fdm.pb-c.o: $(BUILD)/gen/proto/fdm.pb-c.c
	$(CC) $(CFLAGS) -Wno-unused-parameter -c -o $@ $<

PROTO_OBJ := $(BUILD)/gen/proto/fdm.pb-c.o
PROTO_C := $(BUILD)/gen/proto/fdm.pb-c.c

# Objects live under $(OBJ), programs directly in $(BUILD) (build/fdm is the agent,
# so the objects of fdm/ cannot be in build/fdm/). Every object depends on the
# generated header (cheap, and no ordering surprises).
OBJ := $(BUILD)/obj
$(OBJ)/%.o: %.c $(BUILD)/gen/proto/fdm.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# lib/: what every program shares (log, clocks, strings, config parser, derived
# timing, CRC32C), plus the generated proto. It includes nothing else of the
# project (tests/layering checks that).
COMMON_SRCS := $(wildcard lib/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(OBJ)/%.o) $(PROTO_OBJ)
# The config loader and the key it checks (for fuzz targets built from sources).
CONFIG_SRCS := $(wildcard lib/config*.c) lib/key.c

# Order matters: fdm.mk links the libraries the two fragments before it define
# (DS_OBJS, SHIM_CLIENT_OBJS).
-include datastore/datastore.mk
-include hostd-shim/hostd-shim.mk
include fdm/fdm.mk
include tests/tests.mk
include tests/sim/sim.mk
include bench/bench.mk
include packaging/packaging.mk

build-all: $(BINS) $(UNIT_TESTS)

# Everything: unit and system tests on the normal build, then `check` (the same
# unit tests and CHECK_TESTS under ASan/UBSan, the unit tests under valgrind),
# then every fuzz target for TEST_FUZZ_SECONDS from its seed corpus.
TEST_FUZZ_SECONDS ?= 30
# Checks of the tree itself (include layering, linked libraries).
TREE_TESTS := tests/check_layering.sh
test: build-all
	tests/run-tests --build $(BUILD) $(TREE_TESTS) $(UNIT_TESTS) $(SYSTEM_TESTS)
	$(MAKE) sim
	$(MAKE) check
	$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

unit: build-all
	tests/run-tests --build $(BUILD) $(TREE_TESTS) $(UNIT_TESTS)

check:
	$(MAKE) -j2 BUILD=build-asan SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" build-all
	tests/run-tests --build build-asan $(subst $(BUILD)/,build-asan/,$(UNIT_TESTS)) $(CHECK_TESTS)
	$(MAKE) -j2 build-all
	tests/run-tests --build $(BUILD) --valgrind $(UNIT_TESTS)

# Man pages live beside the code they document (fdm/fdm.8, hostd-shim/hostd-shim.8, ...).
MAN8 = $(wildcard fdm/*.8 hostd-shim/*.8 datastore/*.8)
MAN5 = $(wildcard fdm/*.5)

install: build-all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/fdm $(DESTDIR)$(PREFIX)/sbin/fdm
	install -m 0755 $(BUILD)/fdmctl $(DESTDIR)$(PREFIX)/bin/fdmctl
	if [ -f $(BUILD)/hostd-shim ]; then install -m 0755 $(BUILD)/hostd-shim $(DESTDIR)$(PREFIX)/sbin/hostd-shim; fi
	if [ -f $(BUILD)/fdm-inspect ]; then install -m 0755 $(BUILD)/fdm-inspect $(DESTDIR)$(PREFIX)/bin/fdm-inspect; fi
	install -d $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0644 $(MAN8) $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 $(MAN5) $(DESTDIR)$(PREFIX)/share/man/man5/

# ------------------------------------------------------------------ fuzzing
# libFuzzer targets (tests/fuzz/fuzz_*.c), each built straight from its sources
# with clang; seed corpora in tests/fuzz/corpus/<name without fuzz_>/. Fragments
# add their own targets to FUZZERS. `make fuzz FUZZ_SECONDS=N` runs each for N s.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -g -O1 -std=c11 -D_GNU_SOURCE -I. -I$(BUILD)/gen $(PKG_CFLAGS) \
              -fsanitize=fuzzer,address,undefined

# lib/ for the targets below, with a log that formats every line and drops it.
FUZZ_LIB_SRCS = $(filter-out lib/log.c,$(COMMON_SRCS)) tests/fuzz/quiet_log.c

$(BUILD)/fuzz/fuzz_wire: tests/fuzz/fuzz_wire.c fdm/wire.c lib/util.c $(PROTO_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/fuzz/fuzz_core: tests/fuzz/fuzz_core.c $(CORE_SRCS) lib/timing.c \
		$(CONFIG_SRCS) lib/util.c $(PROTO_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/fuzz/fuzz_config: tests/fuzz/fuzz_config.c $(CONFIG_SRCS) lib/timing.c lib/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)

# The VM records of a datastore (protectedlist VM part, poweron records), from
# a real file:// datastore through the shell's translation into a master core.
$(BUILD)/fuzz/fuzz_vmrecords: tests/fuzz/fuzz_vmrecords.c fdm/datastores_vms.c $(DS_SRCS) \
		$(CORE_SRCS) $(FUZZ_LIB_SRCS) $(PROTO_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)

# The control socket: one client's bytes through the real server (sd-event),
# the requests it takes validated as the agent does.
$(BUILD)/fuzz/fuzz_control: tests/fuzz/fuzz_control.c fdm/control.c fdm/ha_request.c \
		fdm/core/placement.c $(FUZZ_LIB_SRCS) $(PROTO_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)

# What hostd-shim sends the agent: the client library and the agent's view of
# its host, against a fake shim that writes the fuzzer's bytes.
$(BUILD)/fuzz/fuzz_shim_client: tests/fuzz/fuzz_shim_client.c fdm/vmhost.c fdm/vmstops.c \
		hostd-shim/client.c hostd-shim/frame.c $(FUZZ_LIB_SRCS) $(PROTO_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)

# Operators' requests between agents: the core, the shell's tables and parser.
$(BUILD)/fuzz/fuzz_forward: tests/fuzz/fuzz_forward.c fdm/ha_forwards.c fdm/ha_request.c \
		fdm/datastores_vms.c $(CORE_SRCS) $(FUZZ_LIB_SRCS) $(PROTO_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)

FUZZERS += $(BUILD)/fuzz/fuzz_wire $(BUILD)/fuzz/fuzz_core $(BUILD)/fuzz/fuzz_config \
           $(BUILD)/fuzz/fuzz_vmrecords $(BUILD)/fuzz/fuzz_control $(BUILD)/fuzz/fuzz_shim_client \
           $(BUILD)/fuzz/fuzz_forward

# Replays: each target's LLVMFuzzerTestOneInput with tests/fuzz/replay.c's main,
# built like the unit tests (gcc; ASan/UBSan in `make check`, valgrind there
# too), replaying tests/fuzz/regressions/<name>/ and the seed corpus.
FUZZ_LIB_OBJS = $(filter-out $(OBJ)/lib/log.o,$(COMMON_OBJS)) $(OBJ)/tests/fuzz/quiet_log.o
FUZZ_REPLAYS := $(addprefix $(BUILD)/tests/fuzz/replay_,wire core config record shim_request \
                vmrecords control shim_client forward)
$(BUILD)/tests/fuzz/replay_wire: $(OBJ)/fdm/wire.o
$(BUILD)/tests/fuzz/replay_core: $(CORE_OBJS)
$(BUILD)/tests/fuzz/replay_record: $(OBJ)/datastore/record.o
$(BUILD)/tests/fuzz/replay_shim_request: $(OBJ)/hostd-shim/frame.o $(OBJ)/hostd-shim/deadlines.o \
		$(OBJ)/hostd-shim/statefile.o
$(BUILD)/tests/fuzz/replay_vmrecords: $(OBJ)/fdm/datastores_vms.o $(DS_OBJS) $(CORE_OBJS)
$(BUILD)/tests/fuzz/replay_control: $(OBJ)/fdm/control.o $(OBJ)/fdm/ha_request.o \
		$(OBJ)/fdm/core/placement.o
$(BUILD)/tests/fuzz/replay_forward: $(OBJ)/fdm/ha_forwards.o $(OBJ)/fdm/ha_request.o \
		$(OBJ)/fdm/datastores_vms.o $(CORE_OBJS)
$(BUILD)/tests/fuzz/replay_shim_client: $(OBJ)/fdm/vmhost.o $(OBJ)/fdm/vmstops.o \
		$(OBJ)/hostd-shim/client.o $(OBJ)/hostd-shim/frame.o
$(FUZZ_REPLAYS): $(BUILD)/tests/fuzz/replay_%: $(OBJ)/tests/fuzz/fuzz_%.o \
		$(OBJ)/tests/fuzz/replay.o $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
UNIT_TESTS += $(FUZZ_REPLAYS)
build-all: $(FUZZ_REPLAYS)

fuzz: $(FUZZERS)
	@set -e; for f in $(FUZZERS); do \
		n=$$(basename $$f); mkdir -p $(BUILD)/fuzz/corpus-$$n; \
		echo "=== $$n for $(FUZZ_SECONDS) s"; \
		if ! $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$(BUILD)/fuzz/$$n- $(BUILD)/fuzz/corpus-$$n \
			tests/fuzz/corpus/$${n#fuzz_} > $(BUILD)/fuzz/$$n.log 2>&1; then \
			tail -n 40 $(BUILD)/fuzz/$$n.log; echo "$$n: FAILED (log $(BUILD)/fuzz/$$n.log)"; exit 1; \
		fi; \
		grep -E '^#[0-9]+[[:space:]]+DONE' $(BUILD)/fuzz/$$n.log; \
	done

# Benchmarks (bench/bench.py): a table with the reference figures, also in
# bench/results.json. ROWS=election,failover,master,isolation,core,memory,datastore,sim
# for a subset; the rows with agents or servers take /tmp/fdm-systest.lock.
ROWS ?= all
bench: build-all
	FDM_BUILD=$(abspath $(BUILD)) bench/bench.py --rows $(ROWS)

demo: build-all
	tests/demo/demo.sh

clean:
	rm -rf build build-asan

.PHONY: all build-all test unit check install bench fuzz demo clean deb rpm

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
