#!/bin/sh
# bench-convert: `lm convert --outtype f16` of a 1.1B-parameter Llama checkpoint (TinyLlama-1.1B
# shapes, BF16, 2 shards, random weights made here by a small C program) against `cp` of the same
# two shards to the same disk, both from a warm page cache and both fsynced: seconds, GB/s of
# input, lm's peak RSS, and lm's time over cp's (goals: within 1.5 x cp, peak RSS under 600 MiB).
# Knobs: BENCH_LAYERS (default 22), TMPDIR (needs ~7 GB free; everything is deleted afterwards).
set -eu
cd "$(dirname "$0")/.."
LM=${LM:-$PWD/lm}
[ -x "$LM" ] || { echo "bench-convert: no lm binary at $LM (make lm)" >&2; exit 2; }
layers=${BENCH_LAYERS:-22}
work=$(mktemp -d "${TMPDIR:-/tmp}/lm-bench-convert.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

cc -O2 -std=c11 -o "$work/gen" -x c - <<'EOF'
/* gen DIR LAYERS: a TinyLlama-shaped HF checkpoint, BF16 random weights, in two shards. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { E = 2048, F = 5632, V = 32000, KV = 256 };
struct t { char name[80]; uint64_t rows, cols; int norm; };
static struct t ts[1024];
static int nt;
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static void add(const char *name, uint64_t rows, uint64_t cols, int norm)
{
    snprintf(ts[nt].name, sizeof(ts[nt].name), "%s", name);
    ts[nt].rows = rows, ts[nt].cols = cols, ts[nt].norm = norm;
    nt++;
}

static uint16_t bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

/* Shard `k` of 2 holds tensors [a, b) of ts. */
static void shard(const char *dir, int k, int a, int b)
{
    char path[4096], *hdr = malloc(1 << 20);
    size_t h = 0;
    uint64_t off = 0;
    h += snprintf(hdr + h, (1u << 20) - h, "{");
    for (int i = a; i < b; i++) {
        uint64_t n = ts[i].rows * (ts[i].cols ? ts[i].cols : 1) * 2;
        if (ts[i].cols)
            h += snprintf(hdr + h, (1u << 20) - h, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[%llu,%llu],"
                         "\"data_offsets\":[%llu,%llu]}", i > a ? "," : "", ts[i].name,
                         (unsigned long long)ts[i].rows, (unsigned long long)ts[i].cols,
                         (unsigned long long)off, (unsigned long long)(off + n));
        else
            h += snprintf(hdr + h, (1u << 20) - h, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[%llu],"
                         "\"data_offsets\":[%llu,%llu]}", i > a ? "," : "", ts[i].name,
                         (unsigned long long)ts[i].rows, (unsigned long long)off,
                         (unsigned long long)(off + n));
        off += n;
    }
    h += snprintf(hdr + h, (1u << 20) - h, "}");
    while (h % 8)
        hdr[h++] = ' ';
    snprintf(path, sizeof(path), "%s/model-0000%d-of-00002.safetensors", dir, k);
    FILE *f = fopen(path, "wb");
    uint64_t hl = h;
    fwrite(&hl, 8, 1, f);
    fwrite(hdr, 1, h, f);
    static uint16_t buf[1 << 20];
    for (int i = a; i < b; i++) {
        uint64_t n = ts[i].rows * (ts[i].cols ? ts[i].cols : 1);
        for (uint64_t done = 0; done < n;) {
            size_t m = n - done < (1u << 20) ? (size_t)(n - done) : (1u << 20);
            for (size_t j = 0; j < m; j++) {
                rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
                float u = (float)((rng * 2685821657736338717ull) >> 40) / 16777216.0f - 0.5f;
                buf[j] = bf16(ts[i].norm ? 1.0f + 0.1f * u : 0.04f * u);
            }
            fwrite(buf, 2, m, f);
            done += m;
        }
    }
    fclose(f);
    free(hdr);
}

int main(int argc, char **argv)
{
    const char *dir = argv[1];
    int L = atoi(argv[2]);
    char name[80], path[4096];
    static const char *const names[] = { "input_layernorm", "mlp.down_proj", "mlp.gate_proj",
                                         "mlp.up_proj", "post_attention_layernorm",
                                         "self_attn.k_proj", "self_attn.o_proj",
                                         "self_attn.q_proj", "self_attn.v_proj" };
    static const uint64_t rows[] = { E, E, F, F, E, KV, E, E, KV };
    static const uint64_t cols[] = { 0, F, E, E, 0, E, E, E, E };
    add("model.embed_tokens.weight", V, E, 0);
    int half = 0;
    for (int l = 0; l < L; l++) {
        if (l == L / 2)
            half = nt;
        for (int j = 0; j < 9; j++) {
            snprintf(name, sizeof(name), "model.layers.%d.%s.weight", l, names[j]);
            add(name, rows[j], cols[j], cols[j] == 0);
        }
    }
    add("model.norm.weight", E, 0, 1);
    add("lm_head.weight", V, E, 0);
    shard(dir, 1, 0, half);
    shard(dir, 2, half, nt);
    snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"metadata\":{},\"weight_map\":{");
    for (int i = 0; i < nt; i++)
        fprintf(f, "%s\"%s\":\"model-0000%d-of-00002.safetensors\"", i ? "," : "", ts[i].name,
                i < half ? 1 : 2);
    fprintf(f, "}}\n");
    fclose(f);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    f = fopen(path, "w");
    fprintf(f, "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\","
               "\"hidden_size\":%d,\"intermediate_size\":%d,\"num_hidden_layers\":%d,"
               "\"num_attention_heads\":32,\"num_key_value_heads\":4,\"vocab_size\":%d,"
               "\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-05,\"rope_theta\":10000.0,"
               "\"rope_scaling\":null,\"tie_word_embeddings\":false,\"bos_token_id\":1,"
               "\"eos_token_id\":2,\"torch_dtype\":\"bfloat16\"}\n", E, F, L, V);
    fclose(f);
    return 0;
}
EOF

ck=$work/TinyLlama-1.1B-bench
mkdir "$ck"
echo "generating a TinyLlama-shaped BF16 checkpoint ($layers layers, 2 shards) in $work"
"$work/gen" "$ck" "$layers"
# stories260K's tokenizer: 512 pieces, padded to the 32000-token vocabulary
cp models/demo/tokenizer.model models/demo/tokenizer_config.json "$ck/"
in_bytes=$(cat "$ck"/*.safetensors | wc -c)

now() { date +%s.%N; }
warm() { cat "$ck"/*.safetensors > /dev/null; sync; }
# Alternate the two, ROUNDS times (disk speed on shared machines drifts); report the best of each.
rounds=${BENCH_ROUNDS:-3}
: > "$work/times"
for r in $(seq "$rounds"); do
    warm
    mkdir "$work/cp"
    t0=$(now)
    cp "$ck"/model-0000*.safetensors "$work/cp/"
    sync "$work"/cp/*
    t1=$(now)
    rm -rf "$work/cp"
    warm
    t2=$(now)
    /usr/bin/time -f '%M %U %S' -o "$work/rss" "$LM" --quiet convert "$ck" --outtype f16 \
        -o "$work/out.gguf" > /dev/null
    t3=$(now)
    out_bytes=$(wc -c < "$work/out.gguf")
    rm -f "$work/out.gguf"
    echo "$t0 $t1 $t2 $t3 $(cat "$work/rss")" >> "$work/times"
done

awk -v in_b="$in_bytes" -v out_b="$out_bytes" '
{ cp = $2 - $1; lm = $4 - $3; cps = cps sprintf(" %.2f", cp); lms = lms sprintf(" %.2f", lm)
  if (NR == 1 || cp < cp_s) cp_s = cp
  if (NR == 1 || lm < lm_s) { lm_s = lm; cpu = $6 + $7 }
  if ($5 > rss) rss = $5 }
END {
    printf "input  %.2f GB in 2 BF16 shards; output %.2f GB F16; best of %d rounds\n",
           in_b / 1e9, out_b / 1e9, NR
    printf "cp + fsync               %6.2f s  %5.2f GB/s   (rounds:%s)\n", cp_s, in_b / 1e9 / cp_s, cps
    printf "lm convert --outtype f16 %6.2f s  %5.2f GB/s   (rounds:%s)\n", lm_s, in_b / 1e9 / lm_s, lms
    printf "lm peak RSS %d MiB, CPU %.2f s (user + sys, best round)\n", rss / 1024, cpu
    printf "lm / cp                  %6.2f x  (goal <= 1.5 x, RSS < 600 MiB)\n", lm_s / cp_s
}' "$work/times"
