# The deterministic simulator of the real core (tests/sim/README.md).
#   make sim          a CI batch over every mode of part 1 (two at a time)
#   make sim-mutants  one binary per mutant (FDM_MUTANT_*), each must be caught
SIM_SRCS := $(wildcard tests/sim/*.c)
SIM_OBJS := $(SIM_SRCS:%.c=$(OBJ)/%.o)
SIM_MC_SRCS := tests/unit/minicluster.c tests/unit/mc_storage.c tests/unit/mc_vms.c
SIM_MC_OBJS := $(SIM_MC_SRCS:%.c=$(OBJ)/%.o)

$(BUILD)/fdm-sim: $(SIM_OBJS) $(SIM_MC_OBJS) $(CORE_OBJS) $(COMMON_OBJS) $(WIRE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
BINS += $(BUILD)/fdm-sim
