# The deterministic simulator of the real core (tests/sim/README.md).
#   make sim          the CI batch over every mode (two processes at a time)
#   make sim-mutants  one binary per mutant (FDM_MUTANT_*), each must be caught
SIM_SRCS := $(wildcard tests/sim/*.c)
SIM_OBJS := $(SIM_SRCS:%.c=$(OBJ)/%.o)
SIM_MC_SRCS := tests/unit/minicluster.c tests/unit/mc_storage.c tests/unit/mc_vms.c \
               tests/unit/mc_deadlines.c
SIM_MC_OBJS := $(SIM_MC_SRCS:%.c=$(OBJ)/%.o)

$(BUILD)/fdm-sim: $(SIM_OBJS) $(SIM_MC_OBJS) $(CORE_OBJS) $(COMMON_OBJS) $(WIRE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
BINS += $(BUILD)/fdm-sim

# `make sim`: the CI batch, two processes at once (3,100 schedules, README.md).
sim: $(BUILD)/fdm-sim
	tests/sim/batch.sh $(BUILD)/fdm-sim

# Mutants: the core built with one rule removed (an #ifdef FDM_MUTANT_* at its
# site), one binary each; tests/sim/mutants.sh fails if a batch misses one.
SIM_MUTANTS := NO_2IO_WAIT RESTART_UNREACHABLE DEAD_NOT_FROM_ACQUISITION \
               STALE_PLACEMENT LATE_IO_OK
# Deadlines (fdm/core/deadline.c): the every-host-heard raise removed.
SIM_MUTANTS += NO_FULL_HOUSE
# The storage-faults rules (issues 17/18): the master's yield removed (election.c),
# stale echoes taken as fresh and offsets counted from receipt (deadline.c).
SIM_MUTANTS += NO_STEP_DOWN SLAVE_NOW RECEIVE_TIME RELEASE_KEEPS_BOUND
# Issue 19: a restarted agent that takes its start for a storage write
# (deadline.c, deadline_inherit.c), a plain ping watchdog in the fake shim
# (tests/unit/mc_deadlines.c: the simulator's shim shares no code with
# hostd-shim), the isolation response without a live lease holder
# (isolation_response.c).
SIM_MUTANTS += ASSUME_WRITE PING_WATCHDOG ISO_NO_LIVE_HOLDER
SIM_MUTANT_BINS := $(SIM_MUTANTS:%=$(BUILD)/sim-mutants/fdm-sim-%)

$(BUILD)/sim-mutants/fdm-sim-%: $(SIM_SRCS) $(SIM_MC_SRCS) $(CORE_SRCS) $(COMMON_OBJS) \
		$(WIRE_OBJS) $(BUILD)/gen/proto/fdm.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFDM_MUTANT_$* -o $@ $(SIM_SRCS) $(SIM_MC_SRCS) $(CORE_SRCS) \
		$(COMMON_OBJS) $(WIRE_OBJS) $(LDFLAGS) $(PKG_LIBS) $(LDLIBS)

sim-mutants: $(SIM_MUTANT_BINS)
	tests/sim/mutants.sh $(BUILD)/sim-mutants $(SIM_MUTANTS)

.PHONY: sim sim-mutants
