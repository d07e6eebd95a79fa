# lm: one binary, one static library of every module, cmocka tests, CLI tests and fuzz targets.
# Modules are found by directory; adding a .c file needs no change here.

BUILD   ?= build
CC      ?= cc
PKGS    := libcurl libarchive sqlite3 libzstd libcrypto jansson libpcre2-8 libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 -Wno-format-nonliteral
# Bit-exact quantizers need each float operation rounded as written (shared/specs/quant-formats.md §2).
BASE_CFLAGS := -std=gnu11 -ffp-contract=off -fno-strict-aliasing -pthread -MMD -MP $(WARN) $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -pthread

MODULES := common format store registry convert quantize runtime
LIB_SRC := $(foreach m,$(MODULES),$(filter-out %_avx2.c %_avx512.c,$(wildcard $(m)/*.c)))
AVX2_SRC := $(foreach m,$(MODULES),$(wildcard $(m)/*_avx2.c))
AVX512_SRC := $(foreach m,$(MODULES),$(wildcard $(m)/*_avx512.c))
CMD_SRC := $(wildcard cmd/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_SUPPORT := $(wildcard tests/support/*.c)
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(AVX2_SRC:%.c=$(BUILD)/%.o) $(AVX512_SRC:%.c=$(BUILD)/%.o)
CMD_OBJ := $(CMD_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/%.o)
REPLAY_BIN := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/replay_%)

.PHONY: all test asan test-normal test-asan fuzz demo clean tests-build

all: lm

lm: $(BUILD)/lm
	@if [ "$(BUILD)" = build ]; then cp $(BUILD)/lm lm; fi

$(BUILD)/lm: $(CMD_OBJ) $(BUILD)/liblm.a
	$(CC) $(CFLAGS) -pthread -o $@ $(CMD_OBJ) $(BUILD)/liblm.a $(LDLIBS) $(EXTRA_LDFLAGS)

$(BUILD)/liblm.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%_avx2.o: %_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE_CFLAGS) -mavx2 -mfma -mf16c -c $< -o $@

$(BUILD)/%_avx512.o: %_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE_CFLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16 -mfma -mf16c -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE_CFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(SUPPORT_OBJ) $(BUILD)/liblm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE_CFLAGS) -o $@ $< $(SUPPORT_OBJ) $(BUILD)/liblm.a $(LDLIBS) -lcmocka $(EXTRA_LDFLAGS)

$(BUILD)/fuzz/replay_%: fuzz/%.c fuzz/replay_main.c $(BUILD)/liblm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BASE_CFLAGS) -o $@ $< fuzz/replay_main.c $(BUILD)/liblm.a $(LDLIBS) $(EXTRA_LDFLAGS)

tests-build: $(BUILD)/lm $(TEST_BIN) $(REPLAY_BIN)

# `make test`: the whole suite on the normal build, then again under ASan+UBSan; one summary.
test:
	@rm -f .test-counts
	@$(MAKE) --no-print-directory test-normal
	@$(MAKE) --no-print-directory test-asan
	@sh tests/summary.sh .test-counts

test-normal:
	@$(MAKE) --no-print-directory BUILD=build lm tests-build >/dev/null
	@sh tests/run.sh build normal .test-counts

ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
test-asan:
	@$(MAKE) --no-print-directory BUILD=build-asan CFLAGS="$(ASAN_FLAGS)" EXTRA_LDFLAGS="-fsanitize=address,undefined" tests-build >/dev/null
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 sh tests/run.sh build-asan asan .test-counts

asan:
	@rm -f .test-counts
	@$(MAKE) --no-print-directory test-asan
	@sh tests/summary.sh .test-counts

# libFuzzer targets, each run for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
fuzz:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang CFLAGS="$(FUZZ_CFLAGS)" build-fuzz/liblm.a
	@set -e; for src in $(FUZZ_SRC); do \
	    t=$$(basename $$src .c); mkdir -p build-fuzz/fuzz fuzz/corpus/$$t; \
	    clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $(BASE_CFLAGS) -o build-fuzz/fuzz/$$t $$src build-fuzz/liblm.a $(LDLIBS); \
	    echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	    mkdir -p build-fuzz/corpus/$$t; \
	    build-fuzz/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        build-fuzz/corpus/$$t fuzz/corpus/$$t $(FUZZ_ARGS); \
	done

demo: lm
	sh scripts/demo

clean:
	rm -rf build build-asan build-fuzz lm .test-counts

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
