# What lm quantize refuses: each a one-line error, and no output file left behind.
set -u
M=${LM_MODELS:-$LM_SRC/../shared/models}/stories260K/ref/gguf
[ -f "$M/stories260K-F32.gguf" ] || { echo "no stories260K fixtures in $M" >&2; exit 77; }
cp "$M/stories260K-F32.gguf" f32.gguf
cp "$M/stories260K-Q8_0-ffn_down_f16.gguf" q8.gguf
check() {   # check LABEL ARGS...: exit status, and whether out.gguf exists
    rc=0
    "$LM" quantize "$@" || rc=$?
    [ -e out.gguf ] && out=written || out=none
    echo "$label: exit $rc, $out"
    [ $rc -le 128 ] || echo "$label: CRASHED"
    rm -f out.gguf
}
label=requantize; check q8.gguf out.gguf Q4_K_M
label="unknown type"; check f32.gguf out.gguf Q7_X
head -c 500000 f32.gguf > cut.gguf
label=truncated; check cut.gguf out.gguf Q4_K_M
label="no fallback"; check f32.gguf out.gguf Q8_0
label=strict; check --strict f32.gguf out.gguf Q4_K_M
# byte 14400 is the first float of token_embd.weight (gguf-index.tsv); make it a NaN.
cp f32.gguf nan.gguf
printf '\000\000\300\177' | dd of=nan.gguf bs=1 seek=14400 conv=notrunc 2>/dev/null
label=nan; check nan.gguf out.gguf Q4_K_M
label="bad pattern"; check --tensor-type 'ffn_(=f16' f32.gguf out.gguf Q4_0
label="bad tensor type"; check --tensor-type ffn_down=q9 f32.gguf out.gguf Q4_0
label="no directory"; check f32.gguf nodir/out.gguf Q4_K_M
label="too few args"; check f32.gguf Q4_K_M 2>/dev/null
label="json without dry-run"; check --json f32.gguf out.gguf Q4_K_M 2>/dev/null
label="no fallback for token_embd type"; check --token-embedding-type q4_k f32.gguf out.gguf Q8_0
# Allowed with --allow-requantize (every 2-D tensor is Q8_0 or F16 there).
label="allow-requantize"; check --allow-requantize q8.gguf out.gguf Q4_K_M
ls *.gguf
