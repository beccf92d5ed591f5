# sbxfs: the daemon, the guest agent and image, the tests.
# `make` builds build/sbxfs and build/images/base/1/; `make check` runs the
# suite through prove; `make bench` prints the benchmark ratios.

.DELETE_ON_ERROR:
.SECONDARY:

B := build
V ?= 0
ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CC ?= cc
PKGS := fuse3 jansson libbpf libnftables

WARNINGS += -Wall
WARNINGS += -Wextra
WARNINGS += -Wno-unused-parameter
WARNINGS += -Wshadow
WARNINGS += -Wformat=2
WARNINGS += -Wmissing-prototypes
WARNINGS += -Wstrict-prototypes
WARNINGS += -Werror=implicit-function-declaration

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 $(WARNINGS) -D_GNU_SOURCE -Ilib -Ivmm -Ifs -MMD -MP
CFLAGS += -Inetpol -Ibpf -I$(B)/bpf
CFLAGS += $(shell pkg-config --cflags $(PKGS))
LDLIBS += $(shell pkg-config --libs $(PKGS))
LDLIBS += -lresolv

# The daemon.
OBJS += lib/log.o
OBJS += lib/unixsock.o
OBJS += lib/size.o
OBJS += vmm/frame.o
OBJS += vmm/accel.o
OBJS += vmm/shape.o
OBJS += vmm/qemu.o
OBJS += vmm/qmp.o
OBJS += vmm/channel.o
OBJS += vmm/cgroup.o
OBJS += vmm/template.o
OBJS += vmm/snapshot.o
OBJS += netpol/egress_list.o
OBJS += netpol/tap.o
OBJS += netpol/filter.o
OBJS += netpol/nat.o
OBJS += netpol/dns.o
OBJS += netpol/netpol.o
OBJS += fs/ctl.o
OBJS += fs/names.o
OBJS += fs/evlog.o
OBJS += fs/spool.o
OBJS += fs/job.o
OBJS += fs/persist.o
OBJS += fs/console.o
OBJS += fs/guard.o
OBJS += fs/sandbox.o
OBJS += fs/sbnet.o
OBJS += fs/egress_file.o
OBJS += fs/render.o
OBJS += fs/tree.o
OBJS += fs/ops.o
OBJS += fs/loop.o
OBJS += fs/main.o

# The guest agent: static, runs as /sbin/sbxfs-agent inside the guest.
AGENT_OBJS += vmm/agent/agent.o
AGENT_OBJS += vmm/agent/jobs.o
AGENT_OBJS += vmm/agent/jobcg.o
AGENT_OBJS += vmm/agent/setup.o
AGENT_OBJS += vmm/agent/net.o
AGENT_OBJS += vmm/frame.o

UNIT_TESTS += $(B)/tests/unit/ctl.t
UNIT_TESTS += $(B)/tests/unit/frame.t
UNIT_TESTS += $(B)/tests/unit/names.t
UNIT_TESTS += $(B)/tests/unit/limits.t
UNIT_TESTS += $(B)/tests/unit/job.t
UNIT_TESTS += $(B)/tests/unit/egress_list.t

IMAGE := $(B)/images/base/1

all: $(B)/sbxfs $(B)/sbxfs-agent $(B)/sbxfs-agentctl $(IMAGE)/vmlinuz $(UNIT_TESTS)
all: $(B)/tests/netprobe

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# The egress filter: BPF C -> object -> skeleton header, which the
# loader (netpol/filter.c) includes.  Linux UAPI headers, no vmlinux.h:
# the program reads only packet headers.
BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -Wall -Ibpf
BPF_CFLAGS += -I/usr/include/$(shell $(CC) -dumpmachine)

$(B)/bpf/egress.bpf.o: bpf/egress.bpf.c bpf/egress.h
	@mkdir -p $(dir $@)
	$(call msg,BPF,$@)
	$(Q)clang $(BPF_CFLAGS) -c -o $@ $<

$(B)/bpf/egress.skel.h: $(B)/bpf/egress.bpf.o
	$(call msg,SKEL,$@)
	$(Q)bpftool gen skeleton $< name egress_bpf >$@

$(B)/netpol/filter.o $(B)/netpol/netpol.o: $(B)/bpf/egress.skel.h

$(B)/sbxfs: $(addprefix $(B)/,$(OBJS))
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/sbxfs-agent: $(addprefix $(B)/,$(AGENT_OBJS))
	$(call msg,LD,$@)
	$(Q)$(CC) -static $(LDFLAGS) -o $@ $^ -ljansson

# A host-side client of the agent socket, for tests and benchmarks.
$(B)/sbxfs-agentctl: $(B)/contrib/agentctl.o $(B)/vmm/frame.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -ljansson

$(B)/tests/unit/ctl.t: $(B)/tests/unit/ctl.o $(B)/fs/ctl.o $(B)/fs/names.o
$(B)/tests/unit/frame.t: $(B)/tests/unit/frame.o $(B)/vmm/frame.o
$(B)/tests/unit/names.t: $(B)/tests/unit/names.o $(B)/fs/names.o
$(B)/tests/unit/limits.t: $(B)/tests/unit/limits.o $(B)/lib/size.o $(B)/vmm/cgroup.o
$(B)/tests/unit/job.t: $(B)/tests/unit/job.o $(B)/fs/job.o $(B)/fs/spool.o
$(B)/tests/unit/egress_list.t: $(B)/tests/unit/egress_list.o $(B)/netpol/egress_list.o
$(B)/tests/unit/%.t:
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A static network probe the egress tests copy into a guest.
$(B)/tests/netprobe: $(B)/tests/netprobe.o
	$(call msg,LD,$@)
	$(Q)$(CC) -static $(LDFLAGS) -o $@ $^

# The guest image: Debian's cloud kernel, busybox-static, our agent.  The
# script caches the kernel package under build/cache, so a second make
# does nothing unless the script, the init or the agent changed.
$(IMAGE)/vmlinuz: vmm/image/mkimage.sh vmm/image/init $(B)/sbxfs-agent
	$(call msg,IMAGE,$(IMAGE))
	$(Q)vmm/image/mkimage.sh $(IMAGE) $(B)/sbxfs-agent $(B)/cache

check: all
	prove --exec '' $(B)/tests/unit/ tests/

bench: all
	tests/bench/run

clean:
	rm -rf $(B)

.PHONY: all check bench clean

-include $(shell find $(B) -name '*.d' 2>/dev/null)
