# Unit tests (cmocka), one binary per file under tests/unit/, each linked with the
# core and common objects. System tests are scripts; fragments add their own.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
# The in-process cluster (fake clock and network) that core tests drive.
UNIT_HELPER_OBJS := $(OBJ)/tests/unit/minicluster.o $(OBJ)/tests/unit/mc_storage.o \
                    $(OBJ)/tests/unit/mc_vms.o $(OBJ)/tests/unit/mc_deadlines.o
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
UNIT_TESTS += $(UNIT_BINS)

$(BUILD)/tests/unit/%: $(OBJ)/tests/unit/%.o $(UNIT_HELPER_OBJS) $(CORE_OBJS) $(COMMON_OBJS) $(WIRE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS) $(CMOCKA_LIBS)
# The shell's translation of VM protection records, tested without a datastore.
$(BUILD)/tests/unit/test_datastores_vms: $(OBJ)/fdm/datastores_vms.o
# The shell's side of operators' requests between hosts: their JSON form, and
# the tables of what was forwarded (both pure).
$(BUILD)/tests/unit/test_ha_request: $(OBJ)/fdm/ha_request.o
$(BUILD)/tests/unit/test_ha_forwards: $(OBJ)/fdm/ha_forwards.o
# `fdmctl metrics`: the exposition text (pure) and the agent's counters; the
# gathering from a whole agent is covered by tests/cli/test_metrics.sh.
$(BUILD)/tests/unit/test_metrics: $(OBJ)/fdm/metrics.o $(OBJ)/fdm/metrics_counters.o
# The agent's /dev/watchdog handling (fdm/watchdog.c).
$(BUILD)/tests/unit/test_watchdog: $(OBJ)/fdm/watchdog.o
# The isolation probe's ICMP rounds, on loopback (fdm/isolation_probe.c).
$(BUILD)/tests/unit/test_isolation_probe: $(OBJ)/fdm/isolation_probe.o
# `fdmctl vms` on every host: the VM part of the status JSON, from a core alone.
$(BUILD)/tests/unit/test_vmview: $(OBJ)/fdm/status_vms.o

# test_vmreport watches the core's calls into VM protection (vms.c) through the
# linker: each __wrap_ function records the call, then calls the real one.
$(BUILD)/tests/unit/test_vmreport: LDFLAGS += -Wl,--wrap=fdm_ha_on_slave_report \
	-Wl,--wrap=fdm_ha_on_orders -Wl,--wrap=fdm_ha_slave_report_of -Wl,--wrap=fdm_ha_orders_for

# The packet injector of the cluster tests (authentication and replay checks).
$(BUILD)/tests/fdm-inject: $(OBJ)/tests/cluster/inject.o $(WIRE_OBJS) $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)
BINS += $(BUILD)/tests/fdm-inject

# Command-line behaviour of the programs (config errors, exit codes).
SYSTEM_TESTS += tests/cli/test_cli.sh
CHECK_TESTS += tests/cli/test_cli.sh
SYSTEM_TESTS += tests/cli/test_notify.py
# fdmctl metrics passes promtool; [metrics] textfile written atomically.
SYSTEM_TESTS += tests/cli/test_metrics.sh
CHECK_TESTS += tests/cli/test_metrics.sh
# A hostile local client holding control connections cannot lock fdmctl out.
SYSTEM_TESTS += tests/cli/test_control_flood.py
CHECK_TESTS += tests/cli/test_control_flood.py

# One scenario per file, each on its own namespace cluster of real agents.
CLUSTER_TESTS := $(sort $(wildcard tests/cluster/test_*.py))
# Agents under ASan in `make check` too: one scenario that starts, kills and stops them.
CHECK_TESTS += tests/cluster/test_election.py
SYSTEM_TESTS += $(CLUSTER_TESTS)

# Unit mutants: test_isolation on a core without the two-reads check of the
# isolation response (fdm/core/isolation_response.c, DESIGN.md point 4). It must
# fail: test_whole_network_outage_powers_nothing_off catches it.
UNIT_MUTANT_SRCS := tests/unit/minicluster.c tests/unit/mc_storage.c tests/unit/mc_vms.c \
                    tests/unit/mc_deadlines.c
$(BUILD)/unit-mutants/test_isolation-%: tests/unit/test_isolation.c $(UNIT_MUTANT_SRCS) \
		$(CORE_SRCS) $(COMMON_OBJS) $(WIRE_OBJS) $(BUILD)/gen/proto/fdm.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFDM_MUTANT_$* -o $@ $< $(UNIT_MUTANT_SRCS) $(CORE_SRCS) \
		$(COMMON_OBJS) $(WIRE_OBJS) $(LDFLAGS) $(PKG_LIBS) $(LDLIBS) $(CMOCKA_LIBS)

unit-mutants: $(BUILD)/unit-mutants/test_isolation-ISOLATION_NO_RENEWAL_CHECK
	@if $< >/dev/null 2>&1; then \
		echo "unit mutant ISOLATION_NO_RENEWAL_CHECK not caught"; exit 1; \
	else echo "unit mutant ISOLATION_NO_RENEWAL_CHECK caught by test_isolation"; fi

.PHONY: unit-mutants
