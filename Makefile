# mod_downloadtoken: build, test and demo targets (GNU make, Debian 12).
#
#   make deps         install the Debian packages everything below needs
#   make              build .libs/mod_downloadtoken.so with apxs
#   make unit         C unit tests of the httpd-free core (build/unit/)
#   make fuzz         libFuzzer targets, FUZZ_SECONDS each (build/fuzz/)
#   make test         deps, build, unit, fuzz-smoke, then the Apache::Test
#                     suite (TEST_FILES=t/login.t for a subset, MPM=...,
#                     SANITIZE=1 for ASan and UBSan)
#   make stress       races and restarts under load, STRESS_SECONDS each
#   make bench        wrk and callgrind, side by side with static serving
#   make run          demo server in the foreground on 127.0.0.1:$(PORT)
#   make start|stop|reload   the same demo server in the background
#   make install      apxs -i, plus conf/downloadtoken.{load,conf} into
#                     /etc/apache2/mods-available (a2enmod downloadtoken)
#   make format       clang-format -i on our C sources
#   make clean

# Recipes use pipelines whose first command's status matters.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:

APXS      ?= /usr/bin/apxs
HTTPD     ?= /usr/sbin/apache2
CC        ?= cc
CLANG     ?= clang
MPM       ?= event
PORT      ?= 8080
FUZZ_SECONDS ?= 60
STRESS_SECONDS ?= 120
TEST_FILES ?=

# Zero warnings is the rule.  Every build prints its warning count; CI
# (which sets CI=true) and anyone who asks with WERROR=yes turns them into
# errors, so a warning cannot land while local edits stay quick to try.
ifneq ($(strip $(CI)),)
WERROR    ?= yes
endif
WERROR    ?= no

# Debian packages: the build (apache2-dev), the server and its tools, the
# Apache::Test suite (mod_perl's Apache::Test, LWP), the demo's media
# (espeak-ng, lame, sox, file), load tests (wrk), the ZIP checks
# (libarchive-dev, unzip) and the fuzzers (clang and its runtime).
DEPS := apache2 apache2-dev apache2-utils libapache2-mod-perl2 libwww-perl \
        lame espeak-ng sox file wrk libarchive-dev unzip clang \
        libclang-rt-14-dev

MODULE     := .libs/mod_downloadtoken.so
CORE_SRCS  := $(sort $(wildcard src/*.c))
HEADERS    := $(sort $(wildcard include/*.h))
# The httpd glue: mod_downloadtoken.c first, then its companions.
GLUE_SRCS  := mod_downloadtoken.c \
              $(sort $(wildcard mod_downloadtoken_*.c))
MOD_SRCS   := $(GLUE_SRCS) $(CORE_SRCS)

# libarchive writes the ZIP of a multi-call download (src/dt_zip.c).
CORE_LIBS  := -larchive

APXS_FLAGS := -Iinclude -Wc,-Wall -Wc,-Wextra $(CORE_LIBS)
ifeq ($(WERROR),yes)
APXS_FLAGS += -Wc,-Werror
endif

# SANITIZE=1: the module, the core and the unit tests with AddressSanitizer
# and UndefinedBehaviorSanitizer; any finding aborts.  httpd itself is not
# instrumented, so build-aux/apache-test.sh preloads the runtime into it.
SANITIZE ?=
comma := ,
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
             -fno-omit-frame-pointer
ifeq ($(SANITIZE),1)
APXS_FLAGS += $(patsubst %,-Wc$(comma)%,$(SAN_FLAGS)) -lasan -lubsan
endif

# The core links against APR, APR-util and libarchive, never httpd.
APR_CFLAGS := $(shell apr-1-config --cflags --cppflags --includes \
                2>/dev/null) \
              $(shell apu-1-config --includes 2>/dev/null)
APR_LIBS   := $(CORE_LIBS) \
              $(shell apu-1-config --link-ld --libs 2>/dev/null) \
              $(shell apr-1-config --link-ld --libs 2>/dev/null)

UNIT_SRCS  := $(sort $(wildcard t/unit/test_*.c))
UNIT_BINS  := $(patsubst t/unit/%.c,build/unit/%,$(UNIT_SRCS))
UNIT_CFLAGS := -std=gnu99 -g -O1 -Wall -Wextra -Werror -Iinclude -It/unit \
               $(APR_CFLAGS)
ifeq ($(SANITIZE),1)
UNIT_CFLAGS += $(SAN_FLAGS)
endif

FUZZ_SRCS  := $(sort $(wildcard t/fuzz/fuzz_*.c))
FUZZ_BINS  := $(patsubst t/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer \
               -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=undefined -Iinclude $(APR_CFLAGS)

DEMO_MEDIA := $(foreach id,1165 1166 1167,build/demo/media/$(id).mp3)

.PHONY: all deps unit fuzz fuzz-smoke fuzz-build test stress bench run \
        start stop reload demo-files install format format-check clean

all: $(MODULE)

deps:
	@build-aux/deps.sh $(DEPS)

# apxs writes the .lo/.slo files beside each source and the shared object
# into .libs/.  Its long libtool lines go to build/module-build.log; the
# screen gets the compiler's diagnostics and the warning count.
# The flags are a prerequisite too: switching SANITIZE or WERROR rebuilds.
build/module-flags: FORCE
	@mkdir -p build
	@echo '$(APXS_FLAGS)' | cmp -s - $@ || echo '$(APXS_FLAGS)' >$@

build/unit-flags: FORCE
	@mkdir -p build
	@echo '$(UNIT_CFLAGS)' | cmp -s - $@ || echo '$(UNIT_CFLAGS)' >$@

.PHONY: FORCE
FORCE:

$(MODULE): $(MOD_SRCS) $(HEADERS) build/module-flags
	@mkdir -p build
	@echo "$(APXS) -c $(APXS_FLAGS) $(MOD_SRCS)"
	@if ! $(APXS) -c $(APXS_FLAGS) $(MOD_SRCS) >build/module-build.log 2>&1; \
	then \
	    grep -v '^libtool: \|^/usr/share/apr-1.0/build/libtool' \
	        build/module-build.log; \
	    echo "module: build FAILED (build/module-build.log)"; exit 1; \
	fi
	@grep -v '^libtool: \|^/usr/share/apr-1.0/build/libtool' \
	    build/module-build.log || true
	@n=$$(grep -c 'warning:' build/module-build.log || true); \
	echo "module: $(MODULE) built, $$n compiler warning(s)"; \
	if [ "$$n" -ne 0 ]; then \
	    echo "module: zero warnings is the rule; CI builds with -Werror"; \
	fi

# ---- unit tests -------------------------------------------------------

build/unit/%: t/unit/%.c $(CORE_SRCS) $(HEADERS) t/unit/dt_test.h \
              build/unit-flags
	@mkdir -p build/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) $(APR_LIBS)

unit: $(UNIT_BINS)
	@build-aux/unit.sh $(UNIT_BINS)

# ---- fuzzing ----------------------------------------------------------

build/fuzz/%: t/fuzz/%.c t/fuzz/dt_fuzz.h $(CORE_SRCS) $(HEADERS)
	@mkdir -p build/fuzz
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRCS) $(APR_LIBS)

fuzz-build: $(FUZZ_BINS)

# Each target runs on a scratch copy of its committed seeds, so what the
# fuzzer adds to its corpus stays in build/.
fuzz: $(FUZZ_BINS)
	@build-aux/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@build-aux/fuzz.sh 5 $(FUZZ_BINS)

# ---- Apache::Test -----------------------------------------------------

# Sequential on purpose: each step needs the one before, even under -j.
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-smoke
	@MPM='$(MPM)' HTTPD='$(HTTPD)' APXS='$(APXS)' SANITIZE='$(SANITIZE)' \
	    TEST_FILES='$(TEST_FILES)' build-aux/apache-test.sh

# Long races and restarts under load (t/race.t, t/restart_load.t), about
# STRESS_SECONDS each, printing what they counted.
stress:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@MPM='$(MPM)' HTTPD='$(HTTPD)' APXS='$(APXS)' \
	    STRESS_SECONDS='$(STRESS_SECONDS)' build-aux/stress.sh

# wrk on the loopback, side by side with httpd's own static serving, and
# callgrind's instruction counts; about 10 minutes (BENCH_SECONDS=1
# BENCH_ROUNDS=3 for a quick look).  Not at the same time as make test.
bench: deps
	@build-aux/deps.sh valgrind
	@HTTPD='$(HTTPD)' APXS='$(APXS)' build-aux/bench.sh

# ---- demo server ------------------------------------------------------

build/demo/media/%.mp3: build-aux/make-media.sh
	@build-aux/make-media.sh $* $@

build/demo/htpasswd:
	@mkdir -p build/demo
	htpasswd -cbB $@.tmp demo demo
	htpasswd -bB $@.tmp guest guest
	@mv $@.tmp $@

demo-files: $(MODULE) $(DEMO_MEDIA) build/demo/htpasswd

DEMO_ENV = MPM='$(MPM)' PORT='$(PORT)' HTTPD='$(HTTPD)'

run: deps
	@$(MAKE) --no-print-directory demo-files
	@$(DEMO_ENV) build-aux/demo.sh run

start: deps
	@$(MAKE) --no-print-directory demo-files
	@$(DEMO_ENV) build-aux/demo.sh start

reload:
	@$(MAKE) --no-print-directory demo-files
	@$(DEMO_ENV) build-aux/demo.sh reload

stop:
	@$(DEMO_ENV) build-aux/demo.sh stop

# ---- install ----------------------------------------------------------

# Only on request: puts the module into the system's httpd.  Enable it
# afterwards with `a2enmod downloadtoken`.
install: $(MODULE)
	$(APXS) -i -n downloadtoken $(MODULE)
	install -m 644 conf/downloadtoken.load conf/downloadtoken.conf \
	    /etc/apache2/mods-available/

# ---- housekeeping -----------------------------------------------------

FORMAT_SRCS = $(wildcard mod_downloadtoken.c src/*.c include/*.h \
                         t/unit/*.c t/unit/*.h t/fuzz/*.c)

format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRCS)

clean:
	-@[ -f build/demo/run/httpd.pid ] && $(DEMO_ENV) build-aux/demo.sh stop
	rm -rf build .libs src/.libs *.la *.lo *.slo *.o src/*.lo src/*.slo \
	    src/*.o t/TEST t/logs
