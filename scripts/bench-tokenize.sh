#!/bin/sh
# bench-tokenize: tokenizer throughput (MB/s, tokens/s) on 1 MB of mixed text (English prose,
# code, numbers, CJK, accents, emoji, runs of whitespace; made here, the same every run) for a
# SentencePiece and byte-level BPE vocabularies. Times lm_tokenize alone (lm -v reports it),
# not loading the vocabulary. LLAMA_TOKENIZE=path/to/llama-tokenize adds llama.cpp's wall time.
set -eu
cd "$(dirname "$0")/.."
LM=${LM:-./lm}
[ -x "$LM" ] || make lm >/dev/null
MODELS=${LM_MODELS:-../shared/models}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lm-bench-tok.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
text=$tmp/mixed.txt

awk 'BEGIN {
    srand(8);
    split("the of and a to in is you that it he was for on are as with his they I at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part", en, " ");
    split("int main(void) { return 0; } for (size_t i = 0; i < n; i++) x[i] += y[i] * 2; if (err) goto out; #include <stdio.h> def f(x): return x**2 // TODO: fix", code, " ");
    split("\xe4\xbd\xa0\xe5\xa5\xbd \xe4\xb8\x96\xe7\x95\x8c \xe8\xaf\xad\xe8\xa8\x80\xe6\xa8\xa1\xe5\x9e\x8b \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 caf\xc3\xa9 na\xc3\xafve \xc3\xbcber Stra\xc3\x9fe \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xf0\x9f\x99\x82 \xf0\x9f\x9a\x80 \xe2\x9c\x85", other, " ");
    n = 0;
    while (n < 1048576) {
        r = rand();
        if (r < 0.70) w = en[int(rand() * length(en)) + 1];
        else if (r < 0.82) w = code[int(rand() * length(code)) + 1];
        else if (r < 0.92) w = other[int(rand() * length(other)) + 1];
        else w = int(rand() * 100000);
        s = rand();
        sep = s < 0.85 ? " " : s < 0.92 ? ", " : s < 0.96 ? ".\n" : s < 0.98 ? "\n\n    " : "\t";
        printf "%s%s", w, sep;
        n += length(w) + length(sep);
    }
}' | head -c 1048576 > "$text"

bytes=$(wc -c < "$text")
echo "text: $bytes bytes of mixed text"
for v in vocab/ggml-vocab-llama-spm.gguf stories260K/ref/gguf/stories260K-F32.gguf \
         vocab/ggml-vocab-qwen2.5.gguf vocab/ggml-vocab-gpt-2.gguf vocab/ggml-vocab-deepseek-coder.gguf; do
    f=$MODELS/$v
    [ -f "$f" ] || { echo "  $(basename "$v"): missing, skipped"; continue; }
    best=""
    for i in 1 2 3; do
        line=$("$LM" -v tokenize --no-bos --ids --stdin "$f" < "$text" 2>&1 >/dev/null | grep 'tokenized')
        ms=$(echo "$line" | sed 's/.* in \([0-9.]*\) ms.*/\1/')
        toks=$(echo "$line" | sed 's/.* into \([0-9]*\) tokens.*/\1/')
        best=$(echo "$best $ms" | awk '{ m = $1; for (i = 2; i <= NF; i++) if ($i < m) m = $i; print m }')
    done
    kind=$("$LM" tokenize --json --no-bos "$f" x | sed -n 's/.*"tokenizer": "\(.*\)".*/\1/p')
    echo "$kind $best $toks $bytes" | awk -v name="$(basename "$v")" '{
        printf "  %-34s %-5s %8.1f ms  %6.2f MB/s  %9.0f tokens/s  (%d tokens, best of 3)\n",
               name, $1 == "llama" ? "SPM" : "BPE", $2, $4 / $2 / 1000, $3 / $2 * 1000, $3 }'
    if [ -n "${LLAMA_TOKENIZE:-}" ]; then
        s=$(date +%s.%N)
        "$LLAMA_TOKENIZE" -m "$f" -f "$text" --ids --log-disable >/dev/null 2>&1 || true
        e=$(date +%s.%N)
        echo "$s $e" | awk '{ printf "    llama-tokenize (wall, load included): %.1f ms\n", ($2 - $1) * 1000 }'
    fi
done
