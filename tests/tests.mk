# Unit tests (cmocka), one binary per file under tests/unit/, each linked with the
# core and common objects. System tests are scripts; fragments add their own.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
# The in-process cluster (fake clock and network) that core tests drive.
UNIT_HELPER_OBJS := $(OBJ)/tests/unit/minicluster.o
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
UNIT_TESTS += $(UNIT_BINS)

$(BUILD)/tests/unit/%: $(OBJ)/tests/unit/%.o $(UNIT_HELPER_OBJS) $(CORE_OBJS) $(COMMON_OBJS) $(WIRE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

SYSTEM_TESTS += tests/cluster/run
