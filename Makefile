# hostflow - one Makefile for the library, the command and both plugins.
#
#   make            build/hostflow, build/hostflow.so, build/hostflow.plugin
#   make run        install missing packages, build, show this host's flows
#   make test       install missing packages, build, run every test
#   make bench      the benchmark (not part of make test)
#   make install    everything under PREFIX (default /usr/local), DESTDIR
#   make uninstall  removes it again (config files only when unedited)
#   make deb        Debian packages in build/deb/ (dpkg-buildpackage)
#   make test-packages  the packages installed, upgraded and purged in a
#                   throwaway Debian 12 root (not part of make test)
#
# CFLAGS, CPPFLAGS and LDFLAGS from the environment are honoured.

# One PREFIX for everything. PREFIX=/usr gives the paths of Debian's collectd
# and netdata (/usr/lib/collectd, /usr/lib/netdata/plugins.d, /etc/...);
# upstream netdata packages want NETDATA_PLUGINSDIR=/usr/libexec/netdata/plugins.d.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
MANDIR ?= $(PREFIX)/share/man
# /etc for PREFIX=/usr, PREFIX/etc otherwise
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
COLLECTD_PLUGINDIR ?= $(LIBDIR)/collectd
COLLECTD_CONFDIR ?= $(SYSCONFDIR)/collectd/collectd.conf.d
NETDATA_PLUGINSDIR ?= $(LIBDIR)/netdata/plugins.d
NETDATA_STOCK_CONFDIR ?= $(LIBDIR)/netdata/conf.d
NETDATA_USER_CONFDIR ?= $(SYSCONFDIR)/netdata
# The one version: HF_VERSION in common/hostflow.h (debian/changelog agrees).
VERSION := $(shell sed -n 's/^\#define HF_VERSION "\(.*\)"$$/\1/p' common/hostflow.h)

CC ?= cc
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config
B := build

DEP_CFLAGS := $(shell $(PKG_CONFIG) --cflags libmnl yajl 2>/dev/null)
DEP_LIBS := $(shell $(PKG_CONFIG) --libs libmnl yajl 2>/dev/null || echo -lmnl -lyajl) -pthread
HF_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -Icommon -Iplugin $(DEP_CFLAGS)
COLLECTD_CFLAGS := -DHAVE_CONFIG_H -I/usr/include/collectd -I/usr/include/collectd/core \
	-I/usr/include/collectd/core/daemon
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# The bpf backend: its programs need clang, bpftool (vmlinux.h from the
# running kernel's BTF, and the skeleton) and libbpf. Without them the rest
# builds and the backend reports "not built".
BPF_CLANG ?= clang
BPFTOOL ?= $(firstword $(shell command -v bpftool 2>/dev/null) /usr/sbin/bpftool)
BTF ?= /sys/kernel/btf/vmlinux
BPF_ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
HAVE_BPF := $(shell command -v $(BPF_CLANG) >/dev/null 2>&1 && test -x $(BPFTOOL) && \
	$(PKG_CONFIG) --exists libbpf 2>/dev/null && test -r $(BTF) && echo 1)
ifeq ($(HAVE_BPF),1)
HF_CFLAGS += -DHF_HAVE_BPF -I$(B)/bpf
DEP_LIBS += $(shell $(PKG_CONFIG) --libs libbpf)
BPF_SKEL := $(B)/bpf/hostflow.skel.h
else
$(info make: the bpf backend is not built: clang, bpftool, libbpf (pkg-config) or $(BTF) missing)
BPF_SKEL :=
endif

COMMON_SRC := $(wildcard common/*.c)
PLUGIN_SRC := $(filter-out plugin/hostflow.c,$(wildcard plugin/*.c))
LIB_SRC := $(COMMON_SRC) $(PLUGIN_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
SAN_OBJ := $(LIB_SRC:%.c=$(B)/san/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
UNIT_SAN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/san_%)
HEADERS := $(wildcard common/*.h plugin/*.h netdata/*.h tests/unit/*.h tests/fuzz/*.h)
# hostflow.plugin: everything but main.c is also linked into its unit test.
ND_SRC := $(filter-out netdata/main.c,$(wildcard netdata/*.c))
ND_OBJ := $(ND_SRC:%.c=$(B)/obj/%.o)
ND_SAN := $(ND_SRC:%.c=$(B)/san/%.o)

all: $(B)/hostflow $(B)/hostflow.so $(B)/hostflow.plugin

$(B)/bpf/vmlinux.h: $(BTF)
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file $(BTF) format c > $@.tmp && mv $@.tmp $@

$(B)/bpf/hostflow.bpf.o: common/bpf/hostflow.bpf.c common/bpf/hostflow_bpf.h $(B)/bpf/vmlinux.h
	$(BPF_CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(BPF_ARCH) -I$(B)/bpf -Icommon/bpf \
		-c -o $@ $<

$(B)/bpf/hostflow.skel.h: $(B)/bpf/hostflow.bpf.o
	$(BPFTOOL) gen skeleton $< name hostflow_bpf > $@.tmp && mv $@.tmp $@

$(B)/obj/common/bpf.o $(B)/san/common/bpf.o: $(BPF_SKEL) common/bpf/hostflow_bpf.h
$(B)/obj/common/flow.o $(B)/san/common/flow.o $(B)/obj/common/bpfflow.o $(B)/san/common/bpfflow.o \
	$(B)/obj/common/ctflow.o $(B)/san/common/ctflow.o: common/bpf/hostflow_bpf.h

$(B)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/san/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) $(CPPFLAGS) $(CFLAGS) -O1 $(SAN_FLAGS) -c -o $@ $<

$(B)/libhostflow.a: $(LIB_OBJ)
	@mkdir -p $(B)
	$(AR) rcs $@ $^

$(B)/libhostflow-san.a: $(SAN_OBJ)
	$(AR) rcs $@ $^

$(B)/hostflow: $(B)/obj/plugin/hostflow.o $(B)/libhostflow.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

$(B)/hostflow.plugin: $(B)/obj/netdata/main.o $(ND_OBJ) $(B)/libhostflow.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

$(B)/obj/collectd/%.o: collectd/%.c collectd/cd.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -Wno-unused-parameter $(COLLECTD_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

CD_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(wildcard collectd/*.c))

$(B)/hostflow.so: $(CD_OBJ) $(LIB_OBJ) collectd/hostflow.map
	$(CC) -shared $(CFLAGS) $(LDFLAGS) -Wl,--version-script=collectd/hostflow.map -o $@ \
		$(CD_OBJ) $(LIB_OBJ) $(DEP_LIBS)

$(B)/tests/%: tests/unit/%.c $(B)/libhostflow.a
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -Itests/unit $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libhostflow.a $(DEP_LIBS)

$(B)/tests/san_%: tests/unit/%.c $(B)/libhostflow-san.a
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -Itests/unit $(CPPFLAGS) $(CFLAGS) -O1 $(SAN_FLAGS) $(LDFLAGS) -o $@ $< \
		$(B)/libhostflow-san.a $(DEP_LIBS)

# The netdata plugin's unit test links the plugin's objects but main.o.
$(B)/tests/test_netdata_plugin: tests/unit/test_netdata_plugin.c $(ND_OBJ) $(B)/libhostflow.a
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -Itests/unit -Inetdata $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< \
		$(ND_OBJ) $(B)/libhostflow.a $(DEP_LIBS)

$(B)/tests/san_test_netdata_plugin: tests/unit/test_netdata_plugin.c $(ND_SAN) \
		$(B)/libhostflow-san.a
	@mkdir -p $(dir $@)
	$(CC) $(HF_CFLAGS) -Itests/unit -Inetdata $(CPPFLAGS) $(CFLAGS) -O1 $(SAN_FLAGS) $(LDFLAGS) \
		-o $@ $< $(ND_SAN) $(B)/libhostflow-san.a $(DEP_LIBS)

# The benchmark's own programs: the floor, the socket holder, the timer,
# the connection loop.
BENCH_BIN := $(B)/bench/floor $(B)/bench/hold $(B)/bench/measure $(B)/bench/cps

$(B)/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

# The bpf backend's hooks with empty programs on them: the traffic's cost
# that no program there can go below.
ifeq ($(HAVE_BPF),1)
BENCH_BIN += $(B)/bench/hooks $(B)/bench/hooks.bpf.o

$(B)/bench/hooks.bpf.o: tests/bench/hooks.bpf.c $(B)/bpf/vmlinux.h
	@mkdir -p $(dir $@)
	$(BPF_CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(BPF_ARCH) -I$(B)/bpf -c -o $@ $<

$(B)/bench/hooks: tests/bench/hooks.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< \
		$(shell $(PKG_CONFIG) --libs libbpf)
endif

deps:
	tools/deps.sh

units: $(UNIT_BIN) $(UNIT_SAN)

E2E := $(sort $(wildcard tests/e2e/[0-9]*.sh))
# The connection-churn test takes about 75 s; HOSTFLOW_SLOW=0 skips it (loudly).
HOSTFLOW_SLOW ?= 1
export HOSTFLOW_SLOW

# One run, one summary line: unit tests plain and under ASan+UBSan, then end to end.
test: deps
	$(MAKE) all units $(BENCH_BIN)
	tests/run.sh $(UNIT_BIN) $(UNIT_SAN) $(E2E)

run: deps
	$(MAKE) all
	$(B)/hostflow -n --states
	@echo
	$(B)/hostflow --listen -n

# The tools against the floor, the bpf backend (the command, then the two
# plugins), the conntrack source, then the cost of reading several
# namespaces; every table is printed even when one fails.
bench: deps
	$(MAKE) all $(BENCH_BIN)
	s=0; tests/bench/run.sh || s=1; tests/bench/bpf.sh || s=1; tests/bench/plugins.sh || s=1; \
	tests/bench/conntrack.sh || s=1; tests/bench/netns.sh || s=1; exit $$s

# The collectd snippet as installed: disabled, the way Debian's collectd-core
# ships its plugins (no config loads them); uncommenting LoadPlugin enables it.
$(B)/collectd-hostflow.conf: collectd/hostflow.conf FORCE
	@mkdir -p $(B)
	sed -e 's|^LoadPlugin hostflow$$|# Installed disabled: uncomment the next line and restart collectd.\n#LoadPlugin hostflow|' \
		-e 's|/etc/collectd/collectd.conf.d/hostflow.conf|$(COLLECTD_CONFDIR)/hostflow.conf|' $< >$@.tmp
	grep -q '^#LoadPlugin hostflow$$' $@.tmp || { echo "$<: no 'LoadPlugin hostflow' line to disable" >&2; exit 1; }
	mv $@.tmp $@

# install_conf SRC DST: a config file is never overwritten. An existing DST
# that differs stays; SRC goes beside it as DST.dist.
install_conf = if [ -e $(2) ] && ! cmp -s $(1) $(2); then \
		install -m 0644 $(1) $(2).dist && \
		echo "install: kept $(2) (edited); the new one is $(2).dist"; \
	else install -m 0644 $(1) $(2); fi
# uninstall_conf SRC DST: removes DST only when it is SRC unedited.
uninstall_conf = rm -f $(2).dist; \
	if [ -e $(2) ] && ! cmp -s $(1) $(2); then \
		echo "uninstall: kept $(2) (edited)"; \
	else rm -f $(2); fi

INSTALLED := $(BINDIR)/hostflow $(MANDIR)/man1/hostflow.1 \
	$(COLLECTD_PLUGINDIR)/hostflow.so $(MANDIR)/man5/collectd-hostflow.5 \
	$(NETDATA_PLUGINSDIR)/hostflow.plugin $(MANDIR)/man8/hostflow.plugin.8 \
	$(NETDATA_STOCK_CONFDIR)/hostflow.conf $(NETDATA_STOCK_CONFDIR)/health.d/hostflow.conf

install: all $(B)/collectd-hostflow.conf
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(COLLECTD_PLUGINDIR) $(DESTDIR)$(COLLECTD_CONFDIR) \
		$(DESTDIR)$(NETDATA_PLUGINSDIR) $(DESTDIR)$(NETDATA_STOCK_CONFDIR)/health.d \
		$(DESTDIR)$(NETDATA_USER_CONFDIR)
	install -m 0755 $(B)/hostflow $(DESTDIR)$(BINDIR)/hostflow
	install -m 0644 man/hostflow.1 $(DESTDIR)$(MANDIR)/man1/hostflow.1
	install -m 0644 $(B)/hostflow.so $(DESTDIR)$(COLLECTD_PLUGINDIR)/hostflow.so
	install -m 0644 man/collectd-hostflow.5 $(DESTDIR)$(MANDIR)/man5/collectd-hostflow.5
	install -m 0755 $(B)/hostflow.plugin $(DESTDIR)$(NETDATA_PLUGINSDIR)/hostflow.plugin
	install -m 0644 man/hostflow.plugin.8 $(DESTDIR)$(MANDIR)/man8/hostflow.plugin.8
	install -m 0644 netdata/hostflow.conf $(DESTDIR)$(NETDATA_STOCK_CONFDIR)/hostflow.conf
	install -m 0644 netdata/health.d/hostflow.conf \
		$(DESTDIR)$(NETDATA_STOCK_CONFDIR)/health.d/hostflow.conf
	@$(call install_conf,$(B)/collectd-hostflow.conf,$(DESTDIR)$(COLLECTD_CONFDIR)/hostflow.conf)
	@$(call install_conf,netdata/hostflow.conf,$(DESTDIR)$(NETDATA_USER_CONFDIR)/hostflow.conf)

uninstall: $(B)/collectd-hostflow.conf
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	@$(call uninstall_conf,$(B)/collectd-hostflow.conf,$(DESTDIR)$(COLLECTD_CONFDIR)/hostflow.conf)
	@$(call uninstall_conf,netdata/hostflow.conf,$(DESTDIR)$(NETDATA_USER_CONFDIR)/hostflow.conf)

# Debian packages, built by dpkg-buildpackage in a copy of the tree
# (build/deb/hostflow-VERSION: the tree's own build/ is left alone), which
# leaves them in build/deb/; the debug symbols go to build/deb/debug/.
# tools/deps.sh installs debhelper and lintian.
DEB_DIR := $(B)/deb
deb: deps
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/hostflow-$(VERSION)
	if [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$(CURDIR)" ]; then \
		git ls-files -z --cached --others --exclude-standard | \
			xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
			tar --null -T - -cf - ; \
	else tar --exclude=./$(B) --exclude=./.git -cf - . ; fi | tar -xf - -C $(DEB_DIR)/hostflow-$(VERSION)
	cd $(DEB_DIR)/hostflow-$(VERSION) && dpkg-buildpackage -us -uc -b
	mkdir -p $(DEB_DIR)/debug
	find $(DEB_DIR) -maxdepth 1 -name '*-dbgsym_*.deb' -exec mv -t $(DEB_DIR)/debug/ {} +
	@find $(DEB_DIR) -name '*.deb' | sort

# The packages built, checked by lintian, installed, upgraded and purged in
# a throwaway Debian 12 root (needs root and Debian's mirror; the base root
# is cached in /var/cache/hostflow-tests).
test-packages: deps
	tests/packages/run.sh

# libFuzzer targets, FUZZ_SECONDS (default 45) each; not part of make test.
fuzz: deps
	tests/fuzz/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(B)

FORCE:

.PHONY: all deps units test run bench fuzz install uninstall deb test-packages format clean FORCE
