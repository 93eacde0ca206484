# The C programs of `make bench` (README.md "Performance"): the pure core at scale, and
# the datastore operations' latency through libfdmds. Built with build-all so a
# broken one shows at once; bench/bench.py runs them.
$(BUILD)/bench/fdm-bench-core: $(OBJ)/bench/core_scale.o $(CORE_OBJS) $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIB_LIBS) $(LDLIBS)

$(BUILD)/bench/fdm-bench-ds: $(OBJ)/bench/ds_latency.o $(DS_OBJS) $(COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(DS_LIBS) $(LDLIBS)

BINS += $(BUILD)/bench/fdm-bench-core $(BUILD)/bench/fdm-bench-ds
