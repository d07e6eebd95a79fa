# lm verify --rebuild: the demo model's convert and Q8_0 steps re-run to the same bytes; a derived
# model whose blob was swapped for another valid GGUF is not reproducible (exit 1).
set -u
must_fail() { rc=0; "$@" 2>&1 || rc=$?; echo "exit $rc"; }
"$LM" import "$LM_SRC/models/demo" --as demo > /dev/null
"$LM" convert demo --outtype f32 > /dev/null 2>&1
"$LM" quantize --tensor-type ffn_down=f16 demo:f32 Q8_0 --as demo:q8_0 > /dev/null 2>&1
"$LM" verify --rebuild demo:q8_0
echo "exit $?"
must_fail "$LM" verify --rebuild demo
# Swap the Q8_0 blob's bytes for the F32 GGUF (valid, but not what the derivation makes).
blob() { "$LM" show --json "$1" | sed -n 's/.*"blob": "\(.*model-.*\)".*/\1/p; s/.*"blob": "\([^"]*\)".*/\1/p' | head -n 1; }
q8=$(blob demo:q8_0); f32=$(blob demo:f32)
chmod u+w "$q8"
cp "$f32" "$q8"
must_fail "$LM" verify --rebuild demo:q8_0
"$LM" verify --rebuild --json demo:q8_0 | grep '"reproducible"'
must_fail "$LM" verify --rebuild
