# Unit tests (cmocka), one binary per file under tests/unit/, each linked with the
# core and common objects. System tests are scripts; fragments add their own.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
UNIT_TESTS += $(UNIT_BINS)

$(BUILD)/tests/unit/%: $(OBJ)/tests/unit/%.o $(CORE_OBJS) $(COMMON_OBJS) $(WIRE_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

SYSTEM_TESTS += tests/cluster/run
