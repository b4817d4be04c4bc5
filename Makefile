# divert — the one build entry point. `make help` lists the targets.
#
# Two build variants share these rules:
#   build/        the normal build (make, make install, make demo, make bench)
#   build/asan/   AddressSanitizer + UndefinedBehaviorSanitizer (make check runs the tests against it)

PREFIX      ?= /usr/local
DESTDIR     ?=
SYSCONFDIR  ?= /etc
BUILD       ?= build
SAN         ?= 0
VERSION     := 0.1.0

PKGS        := libczmq libzmq jansson libsystemd libpq libmicrohttpd libsodium
CC          ?= cc
OPT         ?= -O2
CFLAGS      ?= $(OPT) -g
ALL_CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Icommon \
               -DDIVERT_VERSION='"$(VERSION)"' -DDIVERT_SQLDIR='"$(PREFIX)/share/divert/sql"' \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LIBS        := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
ifeq ($(SAN),1)
ALL_CFLAGS  += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS     += -fsanitize=address,undefined
endif

COMMON_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard common/*.c))
DAEMON_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard daemon/*.c))
SUPPORT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/support/*.c))
CLIENTS     := divertctl divert-submit divert-watch divert-web
BINS        := $(BUILD)/bin/divertd $(addprefix $(BUILD)/bin/,$(CLIENTS))
UNIT_TESTS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
IT_TESTS    := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(wildcard tests/integration/it_*.c))
FAULT_TESTS := $(patsubst tests/faults/%.c,$(BUILD)/tests/%,$(wildcard tests/faults/fault_*.c))
BENCHES     := $(patsubst tests/bench/%.c,$(BUILD)/tests/%,$(wildcard tests/bench/bench_*.c))
LIB         := $(BUILD)/libdivert.a

.PHONY: all help deps asan check unit sqltest itest bench demo demo-stop install clean fuzz faults
all: $(BINS)

help:
	@echo "make deps | make | make demo | make demo-stop | make check | make bench | make install | make clean"

deps:
	@tests/harness/deps.sh

$(BUILD)/obj/%.o: %.c $(wildcard common/*.h daemon/*.h clients/*/*.h tests/support/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	ar rcs $@ $^

$(BUILD)/bin/divertd: $(DAEMON_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(DAEMON_OBJ) $(LIB) $(LIBS)

define client_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard clients/$(1)/*.c)) $(LIB)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(LIB) $(LIBS)
endef
$(foreach c,$(CLIENTS),$(eval $(call client_rule,$(c))))

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support $(LDFLAGS) -o $@ $< $(LIB) $(LIBS)

$(BUILD)/tests/%: tests/integration/%.c $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support $(LDFLAGS) -o $@ $< $(SUPPORT_OBJ) $(LIB) $(LIBS)

$(BUILD)/tests/%: tests/faults/%.c tests/faults/audit.h $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support $(LDFLAGS) -o $@ $< $(SUPPORT_OBJ) $(LIB) $(LIBS)

$(BUILD)/tests/%: tests/bench/%.c $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support $(LDFLAGS) -o $@ $< $(SUPPORT_OBJ) $(LIB) $(LIBS)

tests-built: $(BINS) $(UNIT_TESTS) $(IT_TESTS) $(FAULT_TESTS) $(BENCHES)
.PHONY: tests-built

# The sanitizer build of everything the tests run.
asan:
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 tests-built

# Every test: unit, SQL, integration (real PostgreSQL, real divertd, real CURVE sockets).
check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory asan
	@tests/harness/run-all.sh build/asan

bench: deps all
	@$(MAKE) --no-print-directory tests-built
	@tests/harness/bench.sh build

# libFuzzer targets (clang): a short run is part of `make check`, the long one is this.
fuzz: deps
	@tests/fuzz/run.sh long

# The full fault scenarios (a reduced set is part of `make check`).
faults: deps all
	@$(MAKE) --no-print-directory asan
	@FAULTS=full tests/harness/run-all.sh build/asan faults

demo: deps all
	@tests/harness/demo.sh start

demo-stop:
	@tests/harness/demo.sh stop

# The client library a C integration links (installed with dv_client.h and divert.pc).
$(BUILD)/libdivert-client.a: $(BUILD)/obj/common/dv_client.o
	ar rcs $@ $^

# divertctl finds the migrations beside itself (<bin>/../share/divert/sql),
# so one build installs under any PREFIX.
install: all $(BUILD)/libdivert-client.a
	@deploy/install.sh "$(DESTDIR)" "$(PREFIX)" "$(SYSCONFDIR)" "$(BUILD)" "$(VERSION)"

clean:
	rm -rf build
