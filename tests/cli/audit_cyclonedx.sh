# lm audit --format cyclonedx validates against the CycloneDX 1.6 JSON schema (python3 jsonschema
# with the official schema files in $LM_CYCLONEDX_SCHEMA) and lists every blob digest.
set -u
V="$LM_SRC/tests/cli/lib/validate_cyclonedx.py"
D=${LM_CYCLONEDX_SCHEMA:-}
[ -n "$D" ] && [ -f "$D/bom-1.6.schema.json" ] ||
    { echo "no CycloneDX 1.6 schema (set LM_CYCLONEDX_SCHEMA to a copy of CycloneDX/specification schema/)" >&2; exit 77; }
python3 -c 'import jsonschema, referencing' 2>/dev/null ||
    { echo "python3 jsonschema is not installed" >&2; exit 77; }
cp -r "$LM_SRC/models/demo" demo-src
"$LM" import demo-src --as demo > /dev/null
"$LM" convert demo --outtype f32 > /dev/null 2>&1
"$LM" quantize --tensor-type ffn_down=f16 demo:f32 Q8_0 --as demo:q8_0 > /dev/null 2>&1
SOURCE_DATE_EPOCH=1700000000 "$LM" audit --format cyclonedx > bom.json
echo "exit $?"
python3 "$V" "$D" bom.json
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
python3 "$V" "$D" bad.json | tail -n 1
