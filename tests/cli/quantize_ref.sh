# lm quantize on the stored stories260K F32 GGUF gives llama-quantize's files byte for byte,
# with any thread count; F16/BF16 give the converter's tensors (checked by test_quantize_ref).
set -u
M=${LM_MODELS:-$LM_SRC/../shared/models}/stories260K/ref/gguf
[ -f "$M/stories260K-F32.gguf" ] || { echo "no stories260K fixtures in $M" >&2; exit 77; }
cp "$M/stories260K-F32.gguf" f32.gguf
for t in Q4_K_S Q4_K_M Q5_K_M Q6_K; do
    for n in 1 3; do
        "$LM" quantize -t $n f32.gguf out.gguf $t || echo "$t: exit $?"
        cmp -s out.gguf "$M/stories260K-$t.gguf" && echo "$t -t $n: identical" || echo "$t -t $n: DIFFERS"
    done
done
# The legacy types need ffn_down (rows of 172) kept F16, as the references were made.
for t in Q4_0 Q4_1 Q5_0 Q5_1 Q8_0; do
    "$LM" quantize --tensor-type ffn_down=f16 f32.gguf out.gguf $t || echo "$t: exit $?"
    cmp -s out.gguf "$M/stories260K-$t-ffn_down_f16.gguf" && echo "$t: identical" || echo "$t: DIFFERS"
done
