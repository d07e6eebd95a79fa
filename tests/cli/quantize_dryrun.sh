# lm quantize --dry-run: the per-tensor plan (name, shape, from, to, why), text and JSON, and
# no file written.
set -u
M=${LM_MODELS:-$LM_SRC/../shared/models}/stories260K/ref/gguf
[ -f "$M/stories260K-F32.gguf" ] || { echo "no stories260K fixtures in $M" >&2; exit 77; }
cp "$M/stories260K-F32.gguf" f32.gguf
"$LM" quantize --dry-run f32.gguf Q4_K_M
"$LM" quantize --dry-run --json --tensor-type 'blk\.[0-2]\.ffn_down=f16' \
    --tensor-type attn_q=q8_0 --output-tensor-type q4_0 f32.gguf Q2_K >plan.json
head -n 60 plan.json
"$LM" quantize --dry-run --pure -t 2 f32.gguf 17 | tail -n 3
ls *.gguf  # nothing written
