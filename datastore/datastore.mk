# libfdmds: records, the delta lease, the three backends, the storage worker;
# fdm-inspect; the datastore tests (unit: cmocka; system: Python + real servers).
DS_SRCS := datastore/crc32c.c datastore/record.c datastore/lease.c datastore/ds.c \
           datastore/ds_file.c datastore/ds_nfs.c datastore/ds_iscsi.c datastore/dsio.c
DS_OBJS := $(DS_SRCS:%.c=$(OBJ)/%.o)

$(BUILD)/fdm-inspect: $(OBJ)/datastore/fdm_inspect.o $(DS_OBJS) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/datastore/ds-tool: $(OBJ)/tests/datastore/ds_tool.o $(DS_OBJS) $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

BINS += $(BUILD)/fdm-inspect $(BUILD)/tests/datastore/ds-tool

DS_UNIT := test_record test_lease test_ds_file test_dsio
DS_UNIT_BINS := $(DS_UNIT:%=$(BUILD)/tests/datastore/%)
UNIT_TESTS += $(DS_UNIT_BINS)

$(DS_UNIT_BINS): $(BUILD)/tests/datastore/%: $(OBJ)/tests/datastore/%.o $(DS_OBJS) $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

# System tests: real nfs-ganesha and tgtd, started by tests/datastore/servers.py.
SYSTEM_TESTS += $(wildcard tests/datastore/test_backends.py)
CHECK_TESTS += $(wildcard tests/datastore/test_file_quick.py)

# libFuzzer target for the record decoder (make fuzz; not run by make test).
FUZZERS += $(BUILD)/fuzz/fuzz_record
$(BUILD)/fuzz/fuzz_record: tests/fuzz/fuzz_record.c datastore/record.c datastore/crc32c.c fdm/util.c \
		$(PROTO_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)
