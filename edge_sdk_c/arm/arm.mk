# Cross builds for Cortex-M0+ and Cortex-M4F (included by ../Makefile: make size / make qemu).
PYTHON ?= python3
SPEC ?= tests/bench_spec.json
ROOT := $(abspath ..)
ARM_CC ?= arm-none-eabi-gcc
ARM_SIZE ?= arm-none-eabi-size
QEMU ?= qemu-system-arm
AB := build/arm
SRC := src/edc_msgpack.c src/edc_numeric.c src/edc_categorical.c src/edc_monitor.c \
       src/edc_sha256.c src/edc_envelope.c src/edc_layouts.c src/edc_xf.c src/edc_port.c
BENCH_N ?= 1000
OPT ?= -Os
CPU_m0plus := -mcpu=cortex-m0plus -mthumb -mfloat-abi=soft
CPU_m4f := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
NAME_m0plus := cortex-m0plus
NAME_m4f := cortex-m4f
BOARD_m0plus := mps2-an385
BOARD_m4f := mps2-an386
ACFLAGS = -std=c99 $(OPT) -g -Wall -Wextra -ffunction-sections -fdata-sections -Iinclude -Isrc -I$(AB)
LDFLAGS = -nostartfiles -Wl,--gc-sections -T arm/mps2.ld --specs=nano.specs --specs=nosys.specs

.PHONY: size qemu toolchain qemu-present
toolchain:
	@command -v $(ARM_CC) >/dev/null 2>&1 || { echo "missing: $(ARM_CC) (Debian: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi); nothing built"; exit 2; }
qemu-present:
	@command -v $(QEMU) >/dev/null 2>&1 || { echo "missing: $(QEMU) (Debian: apt-get install qemu-system-arm); nothing run"; exit 2; }

$(AB)/spec.h: $(SPEC) gen_header.py
	@mkdir -p $(AB)
	@PYTHONPATH=$(ROOT) $(PYTHON) gen_header.py $(SPEC) -o $@

$(AB)/records.c $(AB)/records.replay: $(SPEC) arm/records_c.py
	@mkdir -p $(AB)
	@$(PYTHON) arm/records_c.py $(SPEC) $(BENCH_N) 5 $(AB)/records.c $(AB)/records.replay

# $(1): m0plus or m4f
define target
$(AB)/$(1)/lib.stamp: $(SRC) $(AB)/spec.h arm/spec_tables.c arm/startup.c arm/fw_main.c
	@mkdir -p $(AB)/$(1)
	@for f in $(SRC) arm/spec_tables.c arm/startup.c; do \
	  $(ARM_CC) $(CPU_$(1)) $(ACFLAGS) -c $$$$f -o $(AB)/$(1)/$$$$(basename $$$$f .c).o || exit 1; done
	@touch $$@
$(AB)/$(1)/empty.elf: $(AB)/$(1)/lib.stamp
	@$(ARM_CC) $(CPU_$(1)) $(ACFLAGS) -DFW_EMPTY arm/fw_main.c $(AB)/$(1)/startup.o $(LDFLAGS) -o $$@
$(AB)/$(1)/sdk.elf: $(AB)/$(1)/lib.stamp
	@$(ARM_CC) $(CPU_$(1)) $(ACFLAGS) arm/fw_main.c $(AB)/$(1)/*.o $(LDFLAGS) -Wl,-Map=$(AB)/$(1)/sdk.map -o $$@
$(AB)/$(1)/bench.elf: $(AB)/$(1)/lib.stamp $(AB)/records.c
	@$(ARM_CC) $(CPU_$(1)) $(ACFLAGS) -DFW_BENCH -DTARGET_NAME='"$(NAME_$(1))"' arm/fw_main.c $(AB)/records.c $(AB)/$(1)/*.o $(LDFLAGS) -o $$@
endef
$(eval $(call target,m0plus))
$(eval $(call target,m4f))

size: toolchain $(AB)/m0plus/empty.elf $(AB)/m0plus/sdk.elf $(AB)/m4f/empty.elf $(AB)/m4f/sdk.elf
	@for t in m0plus m4f; do \
	  $(PYTHON) arm/size_report.py $$t $(AB)/$$t $(ARM_SIZE) || exit 1; done

qemu: toolchain qemu-present $(AB)/m0plus/bench.elf $(AB)/m4f/bench.elf $(AB)/records.replay
	@$(MAKE) --no-print-directory -f Makefile host BUILD=build/host-golden SPEC=$(SPEC) >/dev/null
	@build/host-golden/replay kws 1.3.0 dev-0042 < $(AB)/records.replay > $(AB)/host.out
	@for t in m0plus m4f; do \
	  board=$$( [ $$t = m4f ] && echo $(BOARD_m4f) || echo $(BOARD_m0plus) ); \
	  timeout 300 $(QEMU) -M $$board -nographic -monitor none -serial none -icount shift=0 \
	    -semihosting-config enable=on,target=native -kernel $(AB)/$$t/bench.elf > $(AB)/$$t/qemu.out 2>&1 || { cat $(AB)/$$t/qemu.out; exit 1; }; \
	  PYTHONPATH=$(ROOT) $(PYTHON) arm/check_golden.py $(AB)/$$t/qemu.out $(AB)/host.out $$board || exit 1; \
	done
