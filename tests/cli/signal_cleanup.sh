# Ctrl-C while an output file is being written (LM_FAULT_SIGINT_AT=N raises SIGINT at the Nth
# write into it) ends lm as SIGINT does and leaves nothing beside the output: not the file, not
# its temp file. For lm convert -o, lm quantize SRC DST and lm export -o.
set -e
mkdir out
"$LM" import "$LM_SRC/models/demo" --as demo > /dev/null
"$LM" convert "$LM_SRC/models/demo" -o demo.gguf --outtype f32 > /dev/null
interrupt() {
    label=$1
    shift
    rc=0
    LM_FAULT_SIGINT_AT=1 "$@" > /dev/null 2>&1 || rc=$?
    echo "$label: exit $rc, left: $(ls -A out | tr '\n' ' ')"
    rm -rf out/* out/.[!.]* 2>/dev/null || true
}
interrupt convert "$LM" convert "$LM_SRC/models/demo" -o out/demo.gguf --outtype f32
interrupt quantize "$LM" quantize --tensor-type ffn_down=f16 demo.gguf out/demo-q8_0.gguf Q8_0
interrupt export "$LM" export demo -o out/demo.tar
# Without the signal, the same commands write their files.
"$LM" convert "$LM_SRC/models/demo" -o out/demo.gguf --outtype f32 > /dev/null
"$LM" quantize --tensor-type ffn_down=f16 demo.gguf out/demo-q8_0.gguf Q8_0 > /dev/null
"$LM" export demo -o out/demo.tar > /dev/null
ls -A out
