#!/bin/sh
# bench-bundle: `lm export` and `lm import` of a bundle of a 2 GiB store against
# `tar -cf - | zstd -T2 -3` and `zstd -d | tar -xf -` of the same blob files. lm's import hashes
# every blob, checks it against the bundle manifest and fsyncs it; the pipe does none of that, so
# the pipe is also timed with a `sync` after it. Goal: lm at least as fast in both directions.
# Env: LM (default ./lm), BENCH_GIB (default 2), BENCH_SHARDS (default 8), LEVEL (lm's zstd
# level, default lm's), THREADS (lm's zstd workers, default 2 like -T2), TMPDIR.
set -eu
cd "$(dirname "$0")/.."
LM=${LM:-./lm}
LM=$(cd "$(dirname "$LM")" && pwd)/$(basename "$LM")
gib=${BENCH_GIB:-2}
shards=${BENCH_SHARDS:-8}
work=$(mktemp -d "${TMPDIR:-/tmp}/lm-bench-bundle.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
export LM_HOME="$work/home"

# The checkpoint (scripts/lib-checkpoint.sh: half of them compressible shards).
. scripts/lib-checkpoint.sh
src=$work/model
bench_checkpoint "$src" "$gib" "$shards" mixed
"$LM" import "$src" --as bench > /dev/null
rm -rf "$src"
blobs=$LM_HOME/blobs/sha256
bytes=$(du -sb "$blobs" | cut -f1)
cat "$blobs"/* > /dev/null   # warm the page cache

now() { date +%s.%N; }
best() {   # best wall time of 3 runs of "$@" (run through sh -c), after PREP
    b=
    for _ in 1 2 3; do
        sh -c "$PREP"
        t0=$(now)
        sh -c "$1" > /dev/null
        t1=$(now)
        b=$(echo "$t1 $t0 ${b:-1e9}" | awk '{ t = $1 - $2; print (t < $3 ? t : $3) }')
    done
    echo "$b"
}
lvl="${LEVEL:+--level $LEVEL} --threads ${THREADS:-2}"   # as many workers as zstd -T2
PREP="rm -f '$work/b.tar.zst'"
t_ex=$(best "'$LM' export bench -o '$work/b.tar.zst' $lvl")
PREP="rm -f '$work/t.tar.zst'"
t_tc=$(best "tar -cf - -C '$blobs' . | zstd -q -T2 -3 -o '$work/t.tar.zst'")
s_lm=$(stat -c %s "$work/b.tar.zst")
s_tz=$(stat -c %s "$work/t.tar.zst")
PREP="rm -rf '$work/h2'"
t_im=$(best "LM_HOME='$work/h2' '$LM' import '$work/b.tar.zst'")
PREP="rm -rf '$work/x'; mkdir '$work/x'"
t_tx=$(best "zstd -q -d -c '$work/t.tar.zst' | tar -xf - -C '$work/x'")
t_txs=$(best "zstd -q -d -c '$work/t.tar.zst' | tar -xf - -C '$work/x' && sync")
LM_HOME="$work/h2" "$LM" verify > /dev/null || { echo "bench-bundle: verify failed" >&2; exit 1; }
awk -v b="$bytes" -v ex="$t_ex" -v tc="$t_tc" -v im="$t_im" -v tx="$t_tx" -v txs="$t_txs" \
    -v sl="$s_lm" -v st="$s_tz" -v c="$(nproc)" 'BEGIN {
    printf "store: %.2f GiB in %s shards (half incompressible, half 2:1); %d CPUs\n", b / 2^30, "'"$shards"'", c
    printf "export  lm export:                 %6.2f s  %5.2f GB/s  bundle %.3f of the blobs\n", ex, b / ex / 1e9, sl / b
    printf "        tar -cf - | zstd -T2 -3:   %6.2f s  %5.2f GB/s  bundle %.3f   lm is %.2fx\n", tc, b / tc / 1e9, st / b, tc / ex
    printf "import  lm import (hash, check, fsync): %6.2f s  %5.2f GB/s\n", im, b / im / 1e9
    printf "        zstd -d | tar -xf -:       %6.2f s  %5.2f GB/s   lm is %.2fx\n", tx, b / tx / 1e9, tx / im
    printf "        zstd -d | tar -xf -; sync: %6.2f s  %5.2f GB/s   lm is %.2fx\n", txs, b / txs / 1e9, txs / im
}'
