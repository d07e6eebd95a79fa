#!/bin/sh
# bench-run.sh: `lm run` speed on Llama-shaped ~1.1B models with random weights (TinyLlama's
# shape), quantized to Q8_0 and Q4_K_M: prompt processing of 512 tokens, and generation of 128
# from an empty context (llama-bench's pp512 and tg128), on
# BENCH_THREADS threads (default 2), and peak RSS. When LLAMA_BENCH names a llama-bench binary
# it runs on the same files with the same settings and the ratios lm / llama.cpp are printed.
#
#   BENCH_DIR     where the models are made and kept (default $TMPDIR/lm-bench; ~3.4 GB)
#   BENCH_LAYERS  layers (default 22; fewer for a quick look)
#   BENCH_RUNS    rounds, best kept (default 5)
set -eu
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-${TMPDIR:-/tmp}/lm-bench}
threads=${BENCH_THREADS:-2}
layers=${BENCH_LAYERS:-22}
runs=${BENCH_RUNS:-5}
mkdir -p "$dir"
[ -f build/liblm.a ] || make lm >/dev/null
cc -O2 -std=gnu11 -pthread -o build/bench-model scripts/bench-model.c build/liblm.a \
    $(pkg-config --libs libcrypto jansson) -lm

f16="$dir/llama-1.1b-${layers}l-F16.gguf"
if [ ! -f "$f16" ]; then
    echo "making $f16 (random weights)"
    build/bench-model "$f16" "$layers"
fi
for q in Q8_0 Q4_K_M; do
    out="$dir/llama-1.1b-${layers}l-$q.gguf"
    [ -f "$out" ] || ./lm quantize --quiet "$f16" "$out" "$q"
done

# 510 letters: BOS, "▁" and 510 times "a" = 512 tokens with bench-model's vocabulary.
prompt=$(printf '%510s' '' | tr ' ' a)
# Each tool starts from the model file out of the page cache (a cold start, as after a reboot),
# so neither inherits the other's page-cache layout: decoding speed depends on whether the
# file's pages are cached as large folios (huge TLB entries) or as 4 KiB pages.
evict() { dd if="$1" iflag=nocache count=0 status=none 2>/dev/null || true; }
rate() { sed -n "s/^$1: *\([0-9.]*\).*/\1/p" "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

printf '%-8s %9s %12s %12s %10s' type size "pp512 t/s" "tg128 t/s" "peak RSS"
[ -n "${LLAMA_BENCH:-}" ] && printf ' %14s %14s %8s %8s' "llama.cpp pp" "llama.cpp tg" "pp ratio" "tg ratio"
printf '\n'
# The best of $runs rounds, lm and llama-bench taking turns: a shared machine's memory bandwidth
# drifts by a third from minute to minute, and decoding speed follows it.
max() { echo "$1 ${2:-0}" | awk '{ print ($1 > $2) ? $1 : $2 }'; }
for q in Q8_0 Q4_K_M; do
    m="$dir/llama-1.1b-${layers}l-$q.gguf"
    log="$dir/run-$q.log"
    tlog="$dir/run-$q-tg.log"
    csv="$dir/llama-bench-$q.csv"
    pp="" tg="" lpp="" ltg="" rss=0
    round=0
    while [ $round -lt "$runs" ]; do
        round=$((round + 1))
        # As llama-bench does: the prompt alone (pp512), then generation from an empty context
        # (tg128; the prompt is BOS and one token).
        evict "$m"
        /usr/bin/time -f 'rss %M' ./lm run --raw --verbose --temperature 0 -t "$threads" \
            --ctx 1024 -n 1 "$m" "$prompt" >/dev/null 2>"$log"
        /usr/bin/time -f 'rss %M' ./lm run --raw --verbose --ignore-eos --temperature 0 \
            -t "$threads" --ctx 1024 -n 128 "$m" a >/dev/null 2>"$tlog"
        pp=$(max "$(rate "prompt eval rate" "$log")" "$pp")
        tg=$(max "$(rate "eval rate" "$tlog")" "$tg")
        n=$(sed -n 's/^prompt eval count: *\([0-9]*\).*/\1/p' "$log")
        [ "$n" = 512 ] || echo "warning: the prompt was $n tokens, not 512" >&2
        rss=$(cat "$log" "$tlog" | sed -n 's/^rss \([0-9]*\)/\1/p' | sort -n | tail -1)
        if [ -n "${LLAMA_BENCH:-}" ]; then
            evict "$m"
            "$LLAMA_BENCH" -m "$m" -p 512 -n 128 -r 1 -t "$threads" -o csv >"$csv" 2>/dev/null
            # llama-bench quotes the values but not the header; drop every quote first.
            col() { tr -d '"' <"$csv" | awk -F, -v key="$1" -v val="$2" \
                'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next } $h[key] == val { print $h["avg_ts"] }'; }
            lpp=$(max "$(col n_prompt 512)" "$lpp")
            ltg=$(max "$(col n_gen 128)" "$ltg")
        fi
    done
    size=$(du -m "$m" | cut -f1)
    printf '%-8s %6s MB %12s %12s %7s MB' "$q" "$size" "$pp" "$tg" "$((rss / 1024))"
    [ -n "${LLAMA_BENCH:-}" ] &&
        printf ' %14s %14s %8s %8s' "$lpp" "$ltg" "$(ratio "$pp" "$lpp")" "$(ratio "$tg" "$ltg")"
    printf '\n'
done
echo "($threads threads, $layers layers, best of $runs rounds, kernels: $(sed -n 's/^kernels: *\([a-z0-9]*\).*/\1/p' "$log"))"
