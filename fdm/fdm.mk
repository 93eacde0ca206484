# The agent fdm, the CLI fdmctl, and the pure core they share.
# The core: every decision, pure (the delta lease included).
CORE_SRCS := $(wildcard fdm/core/*.c)
CORE_OBJS := $(CORE_SRCS:%.c=$(OBJ)/%.o)

# The authenticated wire format and the UDP socket: used by the agent, its tests
# and the injector.
WIRE_OBJS := $(OBJ)/fdm/wire.o $(OBJ)/fdm/net.o

# fdmctl's own files are fdm/fdmctl*.c.
FDMCTL_SRCS := $(wildcard fdm/fdmctl*.c)
FDMCTL_OBJS := $(FDMCTL_SRCS:%.c=$(OBJ)/%.o)
FDM_SRCS := $(filter-out fdm/wire.c fdm/net.c $(FDMCTL_SRCS),$(wildcard fdm/*.c))
FDM_OBJS := $(FDM_SRCS:%.c=$(OBJ)/%.o)

# The agent: datastores (libnfs, libiscsi), sd-event, JSON; never libvirt.
FDM_LIBS := $(call libs_of,libnfs libiscsi libsystemd json-c) $(LIB_LIBS)
$(BUILD)/fdm: $(FDM_OBJS) $(CORE_OBJS) $(WIRE_OBJS) $(DS_OBJS) $(SHIM_CLIENT_OBJS) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(FDM_LIBS) $(LDLIBS)

# fdmctl talks to the agent, and initialises datastores itself (libfdmds).
FDMCTL_LIBS := $(call libs_of,json-c) $(DS_LIBS)
$(BUILD)/fdmctl: $(FDMCTL_OBJS) $(DS_OBJS) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(FDMCTL_LIBS) $(LDLIBS)

BINS += $(BUILD)/fdm $(BUILD)/fdmctl
