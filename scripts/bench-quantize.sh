#!/bin/sh
# bench-quantize: `lm quantize` of a 1.1B F16 model (TinyLlama shapes) to Q4_K_M and Q8_0 with
# 2 threads: seconds and peak RSS. The input is $LM_BENCH_F16 (e.g. the convert benchmark's
# output), else a synthetic F16 GGUF with the same tensors made here (random F16 weights,
# ~2.2 GB, deleted afterwards; with LM_BENCH_F16 naming a file that does not exist yet, it is
# made there and kept). With LLAMA_QUANTIZE naming a llama-quantize binary, runs it on
# the same input, checks the outputs are byte-identical and prints lm's time over llama's.
# Without a llama-quantize, BENCH_SCALAR=1 times lm's scalar reference path (LM_CPU=scalar: the
# same algorithm, operation for operation, as llama-quantize's quantize_row_*_ref) as a stand-in.
# Knobs: BENCH_LAYERS (default 22), BENCH_THREADS (2), BENCH_TYPES ("Q4_K_M Q8_0"), TMPDIR.
set -eu
cd "$(dirname "$0")/.."
LM=${LM:-$PWD/lm}
[ -x "$LM" ] || { echo "bench-quantize: no lm binary at $LM (make lm)" >&2; exit 2; }
layers=${BENCH_LAYERS:-22}
threads=${BENCH_THREADS:-2}
types=${BENCH_TYPES:-Q4_K_M Q8_0}
work=$(mktemp -d "${TMPDIR:-/tmp}/lm-bench-quantize.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

src=${LM_BENCH_F16:-$work/bench-F16.gguf}
if [ ! -f "$src" ]; then
    echo "generating a synthetic TinyLlama-shaped F16 GGUF ($layers layers): $src"
    python3 - "$src" "$layers" <<'EOF'
import os, struct, sys
out, n_layer = sys.argv[1], int(sys.argv[2])
E, F, V, KV = 2048, 5632, 32000, 256          # TinyLlama-1.1B: 32 heads of 64, 4 KV heads

def s(k, v):
    k, v = k.encode(), v.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<IQ", 8, len(v)) + v
def u32(k, v):
    k = k.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<II", 4, v)
def f32(k, v):
    k = k.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<If", 6, v)
def arr(k, t, items):
    k = k.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<IIQ", 9, t, len(items)) + b"".join(items)

toks = [struct.pack("<Q", len(b)) + b for b in (b"[PAD%d]" % i for i in range(V))]
kvs = [s("general.architecture", "llama"), s("general.name", "bench-1.1B"),
       u32("llama.block_count", n_layer), u32("llama.context_length", 2048),
       u32("llama.embedding_length", E), u32("llama.feed_forward_length", F),
       u32("llama.attention.head_count", 32), u32("llama.attention.head_count_kv", 4),
       f32("llama.rope.freq_base", 10000.0), f32("llama.attention.layer_norm_rms_epsilon", 1e-5),
       u32("llama.rope.dimension_count", 64), u32("general.file_type", 1),
       u32("general.quantization_version", 2), s("tokenizer.ggml.model", "llama"),
       arr("tokenizer.ggml.tokens", 8, toks),
       arr("tokenizer.ggml.scores", 6, [struct.pack("<f", -10000.0)] * V),
       arr("tokenizer.ggml.token_type", 5, [struct.pack("<i", 5)] * V)]
tensors = [("token_embd.weight", [E, V], 1), ("output_norm.weight", [E], 0),
           ("output.weight", [E, V], 1)]
for i in range(n_layer):
    b = "blk.%d." % i
    tensors += [(b + "attn_norm.weight", [E], 0), (b + "attn_q.weight", [E, E], 1),
                (b + "attn_k.weight", [E, KV], 1), (b + "attn_v.weight", [E, KV], 1),
                (b + "attn_output.weight", [E, E], 1), (b + "ffn_norm.weight", [E], 0),
                (b + "ffn_gate.weight", [E, F], 1), (b + "ffn_up.weight", [E, F], 1),
                (b + "ffn_down.weight", [F, E], 1)]
infos, off, sizes = b"", 0, []
for name, ne, t in tensors:
    n = 1
    for x in ne:
        n *= x
    size = n * (4 if t == 0 else 2)
    nb = name.encode()
    infos += struct.pack("<Q", len(nb)) + nb + struct.pack("<I", len(ne))
    infos += b"".join(struct.pack("<Q", x) for x in ne) + struct.pack("<IQ", t, off)
    sizes.append((size, t))
    off += (size + 31) // 32 * 32
head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + infos
head += b"\0" * (-len(head) % 32)
# F16 weights: random sign and mantissa, exponent 2^-12..2^-5 (|w| ~ 2e-4..0.06), no Inf/NaN.
hi = bytes((h & 0x83) | ((((h >> 2) & 7) + 3) << 2) for h in range(256))
one = struct.pack("<f", 1.0)
with open(out, "wb") as f:
    f.write(head)
    for size, t in sizes:
        left = size
        while left:
            k = min(left, 1 << 26)
            if t == 0:
                f.write(one * (k // 4))
            else:
                b = bytearray(os.urandom(k))
                b[1::2] = b[1::2].translate(hi)
                f.write(b)
            left -= k
        f.write(b"\0" * (-size % 32))
EOF
fi
ls -l "$src" | awk '{ printf "input: %s, %.2f GB\n", $NF, $5 / 1e9 }'

# seconds and peak RSS (KiB) of a command, from GNU time.
measure() {
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" ||
        { cat "$work/err" >&2; return 1; }
    cat "$work/time"
}

cat "$src" >/dev/null   # page cache warm for every run alike
for t in $types; do
    set -- $(measure "$LM" quantize -t "$threads" "$src" "$work/lm-$t.gguf" "$t")
    lm_s=$1
    printf "lm quantize    %-7s %2s threads: %7.2f s  peak RSS %5d MiB\n" "$t" "$threads" "$lm_s" \
        $(($2 / 1024))
    if [ "${BENCH_SCALAR:-0}" = 1 ]; then
        set -- $(measure env LM_CPU=scalar "$LM" quantize -t "$threads" "$src" "$work/ref-$t.gguf" "$t")
        printf "lm scalar ref  %-7s %2s threads: %7.2f s  peak RSS %5d MiB\n" "$t" "$threads" "$1" \
            $(($2 / 1024))
        if cmp -s "$work/lm-$t.gguf" "$work/ref-$t.gguf"; then same=identical; else same=DIFFERENT; fi
        awk -v a="$lm_s" -v b="$1" -v s="$same" -v t="$t" \
            'BEGIN { printf "%s: outputs %s; lm / scalar reference time = %.2f\n", t, s, a / b }'
        rm -f "$work/ref-$t.gguf"
    fi
    if [ -n "${LLAMA_QUANTIZE:-}" ]; then
        set -- $(measure "$LLAMA_QUANTIZE" "$src" "$work/llama-$t.gguf" "$t" "$threads")
        printf "llama-quantize %-7s %2s threads: %7.2f s  peak RSS %5d MiB\n" "$t" "$threads" "$1" \
            $(($2 / 1024))
        if cmp -s "$work/lm-$t.gguf" "$work/llama-$t.gguf"; then same=identical; else same=DIFFERENT; fi
        awk -v a="$lm_s" -v b="$1" -v s="$same" -v t="$t" \
            'BEGIN { printf "%s: outputs %s; lm / llama-quantize time = %.2f\n", t, s, a / b }'
    fi
    rm -f "$work/lm-$t.gguf" "$work/llama-$t.gguf"
done
