# lm quantize with the store: a store name as SRC, --as NAME with a derivation record (source
# manifest, source sha256, type and options); a bad name stores nothing.
set -u
M=${LM_MODELS:-$LM_SRC/../shared/models}/stories260K/ref/gguf
[ -f "$M/stories260K-F32.gguf" ] || { echo "no stories260K fixtures in $M" >&2; exit 77; }
ref=0c1b543acb134e2f18a5d23b578f2b49aef763f626f976619932cee32e3fe39b   # stories260K-Q4_K_M.gguf
"$LM" import "$M/stories260K-F32.gguf" --as stories:f32 >/dev/null || echo "import failed"
"$LM" quantize stories:f32 Q4_K_M --as stories:q4 2>/dev/null || echo "quantize --as failed"
cmp -s "$LM_HOME/blobs/sha256/$ref" "$M/stories260K-Q4_K_M.gguf" && echo "blob: llama-quantize's file"
"$LM" show --json stories:f32 >f32.json
"$LM" show --json stories:q4 >q4.json
src=$(sed -n 's/^  "digest": "\(.*\)",$/\1/p' f32.json)
grep -q "\"input_manifest\": \"$src\"" q4.json && echo "derived from stories:f32's manifest"
grep -o '"operation": "quantize"' q4.json
grep -o '"type": "Q4_K_M"' q4.json
grep -o '"source_sha256": "686c7605f411043a5840f8767e4cd24c4101eabeba68fad6e696646552e11b39"' q4.json
grep -o '"quantization": "Q4_K_M"' q4.json
# From the store to a file: the same bytes.
"$LM" quantize stories:f32 out.gguf Q6_K 2>/dev/null && cmp -s out.gguf "$M/stories260K-Q6_K.gguf" &&
    echo "store name to file: llama-quantize's file"
# Failures leave nothing: a bad name, a name that is no model.
rc=0; "$LM" quantize stories:f32 Q4_K_M --as 'bad name!' || rc=$?; echo "bad name: exit $rc"
rc=0; "$LM" quantize nosuch:model Q4_K_M --as x:y || rc=$?; echo "no model: exit $rc"
rc=0; "$LM" quantize stories:f32 Q8_0 --as x:y 2>/dev/null || rc=$?; echo "no fallback: exit $rc"
ls "$LM_HOME/tmp" | wc -l | tr -d ' '
"$LM" list | awk 'NR > 1 { print $1 }' | sort
