# libfdmds: records, the delta lease, the three backends, the storage worker;
# fdm-inspect; the datastore tests (unit: cmocka; system: Python + real servers).
DS_SRCS := datastore/record.c datastore/ds.c datastore/ds_identity.c datastore/ds_slots.c \
           datastore/ds_records.c datastore/ds_file.c datastore/ds_nfs.c datastore/ds_iscsi.c \
           datastore/ds_iscsi_layout.c datastore/ds_iscsi_claims.c datastore/dsio.c
DS_OBJS := $(DS_SRCS:%.c=$(OBJ)/%.o)

# libfdmds needs libnfs, libiscsi and sd-event (dsio); fdm-inspect adds JSON.
DS_LIBS := $(call libs_of,libnfs libiscsi libsystemd) $(LIB_LIBS)
$(BUILD)/fdm-inspect: $(OBJ)/datastore/fdm_inspect.o $(DS_OBJS) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(call libs_of,json-c) $(DS_LIBS) $(LDLIBS)

# ds-tool drives the core's lease state machine against real backends (a test).
$(BUILD)/tests/datastore/ds-tool: $(OBJ)/tests/datastore/ds_tool.o $(DS_OBJS) $(OBJ)/fdm/core/lease.o $(OBJ)/fdm/core/lease_query.o \
		$(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(call libs_of,json-c) $(DS_LIBS) $(LDLIBS)

BINS += $(BUILD)/fdm-inspect $(BUILD)/tests/datastore/ds-tool

DS_UNIT := test_record test_ds_file test_dsio
DS_UNIT_BINS := $(DS_UNIT:%=$(BUILD)/tests/datastore/%)
UNIT_TESTS += $(DS_UNIT_BINS)

$(DS_UNIT_BINS): $(BUILD)/tests/datastore/%: $(OBJ)/tests/datastore/%.o $(DS_OBJS) \
		$(OBJ)/fdm/core/lease.o $(OBJ)/fdm/core/lease_query.o $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DS_LIBS) $(LDLIBS) $(CMOCKA_LIBS)

# System tests: real nfs-ganesha and tgtd, started by tests/datastore/servers.py.
SYSTEM_TESTS += $(wildcard tests/datastore/test_backends.py)
CHECK_TESTS += $(wildcard tests/datastore/test_file_quick.py)

# libFuzzer target for the record decoder (make fuzz, and make test for TEST_FUZZ_SECONDS).
FUZZERS += $(BUILD)/fuzz/fuzz_record
$(BUILD)/fuzz/fuzz_record: tests/fuzz/fuzz_record.c datastore/record.c lib/crc32c.c lib/util.c \
		$(PROTO_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)
