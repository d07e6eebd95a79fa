#!/bin/sh
# bench-verify: `lm verify` on a 2 GiB store (page cache warm) against `sha256sum` of the same
# blob files and against `openssl speed -evp sha256` (one core). Goal: at least 3 GB/s with two
# cores, i.e. near twice libcrypto's single-core SHA-256 rate.
# Env: LM (default ./lm), BENCH_GIB (default 2), BENCH_SHARDS (default 8), TMPDIR.
set -eu
cd "$(dirname "$0")/.."
LM=${LM:-./lm}
gib=${BENCH_GIB:-2}
shards=${BENCH_SHARDS:-8}
work=$(mktemp -d "${TMPDIR:-/tmp}/lm-bench-verify.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
export LM_HOME="$work/home"

# A checkpoint of $shards safetensors files, one U8 tensor each, pseudo-random bytes (AES-CTR
# of zeros: fast, and nothing a hash could shortcut).
per=$((gib * 1024 * 1024 * 1024 / shards))
src=$work/model
mkdir -p "$src"
echo '{"architectures": ["Bench"], "model_type": "bench"}' > "$src/config.json"
map=
i=1
while [ $i -le "$shards" ]; do
    f=$(printf 'model-%05d-of-%05d.safetensors' $i "$shards")
    hdr=$(printf '{"w%d":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}' $i $per $per)
    while [ $(( ${#hdr} % 8 )) -ne 0 ]; do hdr="$hdr "; done
    { printf "$(printf '\\%03o' $(( ${#hdr} & 255 )) $(( (${#hdr} >> 8) & 255 )) 0 0 0 0 0 0)"
      printf '%s' "$hdr"
      head -c "$per" /dev/zero | openssl enc -aes-128-ctr -nosalt -pass pass:lm-bench 2>/dev/null
    } > "$src/$f"
    map="$map${map:+,}\"w$i\":\"$f\""
    i=$((i + 1))
done
echo "{\"metadata\":{},\"weight_map\":{$map}}" > "$src/model.safetensors.index.json"
"$LM" import "$src" --as bench > /dev/null
rm -rf "$src"   # only the store's copy stays in the page cache
bytes=$(du -sb "$LM_HOME/blobs" | cut -f1)

best() {   # best wall time of 3 runs, in seconds
    b=
    for _ in 1 2 3; do
        t0=$(date +%s.%N)
        "$@" > /dev/null
        t1=$(date +%s.%N)
        b=$(echo "$t1 $t0 ${b:-1e9}" | awk '{ t = $1 - $2; print (t < $3 ? t : $3) }')
    done
    echo "$b"
}
cat "$LM_HOME"/blobs/sha256/* > /dev/null   # warm the page cache
t_lm=$(best "$LM" verify)
t_sum=$(best sh -c "sha256sum '$LM_HOME'/blobs/sha256/*")
ossl=$(openssl speed -seconds 3 -bytes 1048576 -evp sha256 2>/dev/null | awk '/^sha256/ { print $2 }')
ossl_gbs=$(echo "$ossl" | awk '{ sub(/k$/, "", $1); printf "%.2f", $1 * 1000 / 1e9 }')
awk -v b="$bytes" -v l="$t_lm" -v s="$t_sum" -v o="$ossl_gbs" -v c="$(nproc)" 'BEGIN {
    lm = b / l / 1e9; sum = b / s / 1e9
    printf "store: %.2f GiB in %s blobs (+ config, index); %d CPUs\n", b / 2^30, "'"$shards"'", c
    printf "lm verify:                 %.2f s  %.2f GB/s\n", l, lm
    printf "sha256sum (one process):   %.2f s  %.2f GB/s   lm is %.2fx faster\n", s, sum, lm / sum
    printf "openssl speed sha256 (1 core, 1 MiB blocks):  %.2f GB/s   lm is %.2fx that\n", o, lm / o
}'
