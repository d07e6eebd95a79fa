# lm audit: sources, re-hashed files against upstream digests, signature status, derivation chain
# and license per model; a corrupted blob fails it (exit 1).
set -u
must_fail() { rc=0; "$@" 2>&1 || rc=$?; echo "exit $rc"; }
S=${LM_SHARED:-$LM_SRC/../shared}/signing
[ -d "$S" ] || { echo "no signing fixtures at $S (set LM_SHARED)" >&2; exit 77; }
cp -r "$LM_SRC/models/demo" demo-src
"$LM" import demo-src --as demo > /dev/null
"$LM" convert demo --outtype f32 > /dev/null 2>&1
"$LM" quantize --tensor-type ffn_down=f16 demo:f32 Q8_0 --as demo:q8_0 > /dev/null 2>&1
cp -r "$S/lm-made-key/stories260K" signed-src && chmod -R u+w signed-src
"$LM" import signed-src --as signed > /dev/null
rc=0; "$LM" audit > audit.txt || rc=$?
sed "s|file://$PWD/|file://CWD/|" audit.txt
echo "exit $rc"
"$LM" audit --json demo:q8_0 | grep -c '"check": "ok"'
# A blob changed on disk: the audit names it and fails.
blob=$("$LM" show --json demo:q8_0 | sed -n 's/.*"blob": "\([^"]*model-Q8_0[^"]*\)".*/\1/p; s/.*"blob": "\([^"]*\)".*/\1/p' | head -n 1)
chmod u+w "$blob" && printf 'X' | dd of="$blob" bs=1 seek=100 conv=notrunc 2>/dev/null
must_fail "$LM" audit demo:q8_0
must_fail "$LM" audit --format spdx
must_fail "$LM" audit nosuchmodel
