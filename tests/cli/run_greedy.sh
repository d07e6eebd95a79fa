# lm run with --temperature 0 prints exactly llama.cpp's greedy text (ref/generate gen_text, KV
# cache F16 as llama-simple), for the F32 and Q8_0 stories260K files and all three prompts.
g="$LM_MODELS/stories260K/ref/gguf"
[ -f "$g/stories260K-F32.gguf" ] || { echo "no fixtures in $LM_MODELS" >&2; exit 77; }
set -e
p1='Once upon a time'
p2='Lily and Tom went to the park. They saw a big dog and'
p3='One day, Ben said, "Let'"'"'s play with the red ball!"
His mom smiled and'
for f in stories260K-F32.gguf stories260K-Q8_0-convert.gguf; do
    for p in "$p1" "$p2" "$p3"; do
        "$LM" run --raw --temperature 0 -n 64 -t 2 "$g/$f" "$p"
    done
done
