# The agent fdm, the CLI fdmctl, and the pure core they share.
CORE_SRCS := $(filter-out fdm/core/timing.c,$(wildcard fdm/core/*.c))
# The delta lease (datastore/lease.c) is pure too: the core drives it.
CORE_OBJS := $(CORE_SRCS:%.c=$(OBJ)/%.o) $(OBJ)/datastore/lease.o

# The authenticated wire format: used by the agent, its tests and the injector.
WIRE_OBJS := $(OBJ)/fdm/wire.o

FDM_SRCS := $(filter-out fdm/config.c fdm/util.c fdm/log.c fdm/wire.c fdm/fdmctl.c,$(wildcard fdm/*.c))
FDM_OBJS := $(FDM_SRCS:%.c=$(OBJ)/%.o)

$(BUILD)/fdm: $(FDM_OBJS) $(CORE_OBJS) $(WIRE_OBJS) $(DS_OBJS) $(SHIM_CLIENT_OBJS) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fdmctl: $(OBJ)/fdm/fdmctl.o $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

BINS += $(BUILD)/fdm $(BUILD)/fdmctl
