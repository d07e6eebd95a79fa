# lm run --raw --logits-out writes every prompt position's logits as little-endian f32
# [n_tokens][n_vocab], bit for bit llama.cpp's for these Q8_0 models (ref/logits logits_sha256),
# and generates nothing unless -n asks. (The references ran with an F32 KV cache.)
[ -f "$LM_MODELS/tiny-llama-256/ref/gguf/tiny-llama-256-Q8_0.gguf" ] || { echo "no fixtures in $LM_MODELS" >&2; exit 77; }
set -e
p1='Once upon a time'
p2='Lily and Tom went to the park. They saw a big dog and'
p3='One day, Ben said, "Let'"'"'s play with the red ball!"
His mom smiled and'
for f in tiny-llama-256 tiny-qwen2-256; do
    i=1
    for p in "$p1" "$p2" "$p3"; do
        out=$("$LM" run --raw --kv-type f32 --logits-out "$f.p$i.bin" "$LM_MODELS/$f/ref/gguf/$f-Q8_0.gguf" "$p")
        [ -z "$out" ] || { echo "generated text without -n: $out" >&2; exit 1; }
        sha256sum "$f.p$i.bin"
        i=$((i + 1))
    done
done
