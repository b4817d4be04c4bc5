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
AR          ?= ar
OPT         ?= -O2
CFLAGS      ?= $(OPT) -g
PKG_CONFIG  ?= pkg-config
# CPPFLAGS, CFLAGS and LDFLAGS are the builder's (e.g. Debian's hardening flags from
# dpkg-buildflags): they reach every compile and link here, the tests' too. CPPFLAGS
# is exported for the fuzzers' build (tests/fuzz/run.sh).
export CPPFLAGS
DV_CPPFLAGS := -D_GNU_SOURCE -Icommon \
               -DDIVERT_VERSION='"$(VERSION)"' -DDIVERT_SQLDIR='"$(PREFIX)/share/divert/sql"'
DV_CFLAGS   := -std=c11 -Wall -Wextra -Werror
ifeq ($(SAN),1)
SAN_CFLAGS  := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_LDFLAGS := -fsanitize=address,undefined
endif

# The libraries' flags come from pkg-config when a recipe first needs them,
# never while this file is read: `make demo`, `make check`, `make bench` and
# `make faults` install the packages first (deps) and only then build, in a
# sub-make.
# Without the packages the build stops here with a clear message instead of
# compiling without their flags.
pkgconfig    = $(if $(shell $(PKG_CONFIG) --exists $(PKGS) 2>/dev/null && echo yes),$\
                   $(shell $(PKG_CONFIG) $(1) $(PKGS)),$\
                   $(error pkg-config does not find $(PKGS): run `make deps` first))
PKG_CFLAGS   = $(eval PKG_CFLAGS := $(call pkgconfig,--cflags))$(PKG_CFLAGS)
PKG_LIBS     = $(eval PKG_LIBS := $(call pkgconfig,--libs))$(PKG_LIBS)
ALL_CFLAGS   = $(DV_CPPFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) $(DV_CFLAGS) $(CFLAGS) $(SAN_CFLAGS)
ALL_LDFLAGS  = $(LDFLAGS) $(SAN_LDFLAGS)
LIBS         = $(PKG_LIBS) -lpthread -lm

COMMON_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard common/*.c))
DAEMON_OBJ  := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard daemon/*.c))
SUPPORT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/support/*.c))
CLIENTS     := divertctl divert-submit divert-watch divert-cms divert-web
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
	$(AR) rcs $@ $^

$(BUILD)/bin/divertd: $(DAEMON_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(DAEMON_OBJ) $(LIB) $(LIBS)

define client_rule
$(BUILD)/bin/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard clients/$(1)/*.c)) $(LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(LIB) $$(LIBS)
endef
$(foreach c,$(CLIENTS),$(eval $(call client_rule,$(c))))

# The daemon's decision core is pure (no database, no sockets): its unit
# tests link it directly, and so the pure parts of the metrics (divertd's
# counters, divert-web's exposition format).
CORE_OBJ    := $(BUILD)/obj/daemon/decide.o $(BUILD)/obj/daemon/snapshot.o \
               $(BUILD)/obj/daemon/metrics.o $(BUILD)/obj/clients/divert-web/exposition.o

$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support -Idaemon -Iclients/divert-web $(ALL_LDFLAGS) -o $@ $< $(CORE_OBJ) $(LIB) $(LIBS)

# divert-web's FHIR state mapping is pure too: its unit test links it (and
# the words it uses) directly.
WEB_PURE_OBJ := $(BUILD)/obj/clients/divert-web/fhir_status.o $(BUILD)/obj/clients/divert-web/words.o

$(BUILD)/tests/test_fhir: tests/unit/test_fhir.c $(WEB_PURE_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support -Iclients/divert-web $(ALL_LDFLAGS) -o $@ $< $(WEB_PURE_OBJ) $(LIB) $(LIBS)

$(BUILD)/tests/%: tests/integration/%.c $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support $(ALL_LDFLAGS) -o $@ $< $(SUPPORT_OBJ) $(LIB) $(LIBS)

$(BUILD)/tests/%: tests/faults/%.c tests/faults/audit.h $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support $(ALL_LDFLAGS) -o $@ $< $(SUPPORT_OBJ) $(LIB) $(LIBS)

$(BUILD)/tests/%: tests/bench/%.c $(SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/support $(ALL_LDFLAGS) -o $@ $< $(SUPPORT_OBJ) $(LIB) $(LIBS)

tests-built: $(BINS) $(UNIT_TESTS) $(IT_TESTS) $(FAULT_TESTS) $(BENCHES)
.PHONY: tests-built
# Objects only pattern rules need are kept, not rebuilt every run.
.SECONDARY: $(SUPPORT_OBJ)

# The sanitizer build of everything the tests run.
asan:
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 tests-built

# Targets that install the packages build in a sub-make after `deps`, so the
# build reads pkg-config once the packages are there (and never races deps).
# That sub-make uses every core unless the builder chose -j (then make's
# jobserver shares what they chose).
NPROC       := $(shell nproc 2>/dev/null || echo 2)
SUBMAKE      = $(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS))$(findstring jobserver,$(MAKEFLAGS)),,-j$(NPROC))

# Every test: unit, SQL, integration (real PostgreSQL, real divertd, real CURVE sockets).
check: deps
	@$(SUBMAKE) all
	@$(SUBMAKE) asan
	@tests/harness/run-all.sh build/asan

bench: deps
	@$(SUBMAKE) tests-built
	@tests/harness/bench.sh build

# libFuzzer targets (clang): a short run is part of `make check`, the long one is this.
fuzz: deps
	@tests/fuzz/run.sh long

# The full fault scenarios (a reduced set is part of `make check`).
faults: deps
	@$(SUBMAKE) all
	@$(SUBMAKE) asan
	@FAULTS=full tests/harness/run-all.sh build/asan faults

demo: deps
	@$(SUBMAKE) all
	@tests/harness/demo.sh start

demo-stop:
	@tests/harness/demo.sh stop

# The client library a C integration links (installed with dv_client.h and divert.pc).
$(BUILD)/libdivert-client.a: $(BUILD)/obj/common/dv_client.o
	$(AR) rcs $@ $^

# divertctl finds the migrations beside itself (<bin>/../share/divert/sql),
# so one build installs under any PREFIX.
install: all $(BUILD)/libdivert-client.a
	@deploy/install.sh "$(DESTDIR)" "$(PREFIX)" "$(SYSCONFDIR)" "$(BUILD)" "$(VERSION)"

clean:
	rm -rf build
