# hostd-shim: the libvirt daemon, its client library (linked into fdm), a debug
# CLI, unit tests (cmocka), system tests against libvirt, a fuzz target.

SHIM_FRAME_OBJS := $(OBJ)/hostd-shim/frame.o

# What fdm links to talk to the shim.
SHIM_CLIENT_OBJS := $(OBJ)/hostd-shim/client.o $(SHIM_FRAME_OBJS)

SHIM_STATE_OBJS := $(OBJ)/hostd-shim/deadlines.o $(OBJ)/hostd-shim/statefile.o

SHIM_DAEMON_SRCS := main.c server.c slots.c requests.c events.c fence.c domcache.c ops.c \
                    translate.c shutdown.c virt.c pool.c mailbox.c
SHIM_DAEMON_OBJS := $(SHIM_DAEMON_SRCS:%.c=$(OBJ)/hostd-shim/%.o) $(SHIM_FRAME_OBJS) \
                    $(SHIM_STATE_OBJS)

# The shim: libvirt and sd-event; never libnfs or libiscsi.
SHIM_LIBS := $(call libs_of,libvirt libsystemd) $(LIB_LIBS)
$(BUILD)/hostd-shim: $(SHIM_DAEMON_OBJS) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(SHIM_LIBS) $(LDLIBS)

$(BUILD)/hostd-shim-cli: $(OBJ)/hostd-shim/cli.o $(OBJ)/hostd-shim/pbjson.o $(SHIM_CLIENT_OBJS) \
		$(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(call libs_of,json-c libsystemd) $(LIB_LIBS) $(LDLIBS)

BINS += $(BUILD)/hostd-shim $(BUILD)/hostd-shim-cli

# Unit tests: pure code, no libvirt.
$(BUILD)/tests/shim/test_frame: $(OBJ)/tests/shim/test_frame.o $(SHIM_FRAME_OBJS) $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/shim/test_statefile: $(OBJ)/tests/shim/test_statefile.o $(SHIM_STATE_OBJS) \
		$(SHIM_FRAME_OBJS) $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/shim/test_deadline_rules: $(OBJ)/tests/shim/test_deadline_rules.o \
		$(SHIM_STATE_OBJS) $(SHIM_FRAME_OBJS) $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS) $(CMOCKA_LIBS)

# How libvirt's events and state reasons read (no libvirt call: its headers only).
$(BUILD)/tests/shim/test_translate: $(OBJ)/tests/shim/test_translate.o \
		$(OBJ)/hostd-shim/translate.o $(OBJ)/hostd-shim/domcache.o $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS) $(CMOCKA_LIBS)

# The agent's stop queue (fdm/vmstops.c, pure), beside the shim it reports on.
$(BUILD)/tests/shim/test_vmstops: $(OBJ)/tests/shim/test_vmstops.o $(OBJ)/fdm/vmstops.o \
		$(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS) $(CMOCKA_LIBS)

SHIM_UNIT_TESTS := $(BUILD)/tests/shim/test_frame $(BUILD)/tests/shim/test_statefile \
                   $(BUILD)/tests/shim/test_deadline_rules $(BUILD)/tests/shim/test_translate \
                   $(BUILD)/tests/shim/test_vmstops
UNIT_TESTS += $(SHIM_UNIT_TESTS)

# fdm/vmhost.c (the agent's view of its VMs) against a real shim: a C program
# that tests/shim/test_vmhost.py runs.
$(BUILD)/tests/shim/test_vmhost: $(OBJ)/tests/shim/test_vmhost.o $(OBJ)/fdm/vmhost.o \
		$(OBJ)/fdm/vmstops.o $(SHIM_CLIENT_OBJS) $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(call libs_of,libsystemd) $(LIB_LIBS) $(LDLIBS)
BINS += $(BUILD)/tests/shim/test_vmhost

# System tests (python3): test:///default-style node files, then a real libvirtd.
SHIM_QUICK_TESTS := tests/shim/test_api.py tests/shim/test_deadlines.py \
                    tests/shim/test_state.py tests/shim/test_clients.py \
                    tests/shim/test_ha_calls.py tests/shim/test_vmhost.py
# Then a private libvirtd: its test driver behind a read-only socket, and QEMU.
SHIM_LIBVIRTD_TESTS := tests/shim/test_fence_retry.py tests/shim/test_crash.py \
                       tests/shim/test_qemu.py
SYSTEM_TESTS += $(SHIM_QUICK_TESTS) $(SHIM_LIBVIRTD_TESTS)
CHECK_TESTS += $(SHIM_QUICK_TESTS)

# libFuzzer target for the request decoder (make fuzz, and make test for TEST_FUZZ_SECONDS).
$(BUILD)/fuzz/fuzz_shim_request: tests/fuzz/fuzz_shim_request.c hostd-shim/frame.c \
		hostd-shim/deadlines.c hostd-shim/statefile.c lib/crc32c.c \
		$(PROTO_C) lib/util.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)
FUZZERS += $(BUILD)/fuzz/fuzz_shim_request

# Only the shim's parts: build them and run their tests.
shim: $(BUILD)/hostd-shim $(BUILD)/hostd-shim-cli $(SHIM_UNIT_TESTS)
shim-test: shim
	tests/run-tests --build $(BUILD) $(SHIM_UNIT_TESTS) $(SHIM_QUICK_TESTS) $(SHIM_LIBVIRTD_TESTS)
.PHONY: shim shim-test
