# lm audit --format cyclonedx validates against the CycloneDX 1.6 JSON schema and lists every
# blob digest.
set -u
# The validator: CycloneDX's own JavaScript library (scripts/install-test-tools puts it in
# .cache/test-tools; .ci/run does that), else python3 jsonschema with $LM_CYCLONEDX_SCHEMA.
T="$LM_SRC/.cache/test-tools"
if [ -d "$T/node_modules/@cyclonedx/cyclonedx-library" ] && command -v node >/dev/null; then
    validate() { node "$LM_SRC/tests/cli/lib/validate_cyclonedx.cjs" "$T" "$1"; }
elif [ -n "${LM_CYCLONEDX_SCHEMA:-}" ] && [ -f "$LM_CYCLONEDX_SCHEMA/bom-1.6.schema.json" ] &&
     python3 -c 'import jsonschema, referencing' 2>/dev/null; then
    validate() { python3 "$LM_SRC/tests/cli/lib/validate_cyclonedx.py" "$LM_CYCLONEDX_SCHEMA" "$1"; }
else
    echo "no CycloneDX validator: run scripts/install-test-tools (or set LM_CYCLONEDX_SCHEMA)" >&2
    exit 77
fi
cp -r "$LM_SRC/models/demo" demo-src
"$LM" import demo-src --as demo > /dev/null
"$LM" convert demo --outtype f32 > /dev/null 2>&1
"$LM" quantize --tensor-type ffn_down=f16 demo:f32 Q8_0 --as demo:q8_0 > /dev/null 2>&1
SOURCE_DATE_EPOCH=1700000000 "$LM" audit --format cyclonedx > bom.json
echo "exit $?"
validate bom.json
n=0; missing=0
for m in demo demo:f32 demo:q8_0; do
    for d in $("$LM" show --json $m | sed -n 's/.*"digest": "sha256:\([0-9a-f]\{64\}\)".*/\1/p'); do
        n=$((n + 1)); grep -q "\"content\": \"$d\"" bom.json || { missing=$((missing + 1)); echo "missing $d"; }
    done
done
echo "$n blob digests, $missing missing"
grep -c '"type": "machine-learning-model"' bom.json
grep '"timestamp"' bom.json
# The validator is real: a wrong component type is refused.
sed 's/"type": "file"/"type": "document"/' bom.json > bad.json
validate bad.json | tail -n 1 | cut -d" " -f1
