# lm verify --sig NAME: a store model's files checked by their names against its model.sig layer.
S=${LM_SHARED:-$LM_SRC/../shared}/signing
[ -d "$S" ] || { echo "no signing fixtures at $S (set LM_SHARED)" >&2; exit 77; }
must_fail() { rc=0; "$@" 2>&1 || rc=$?; echo "exit $rc"; }
cp -r "$S/lm-made-key" . && chmod -R u+w lm-made-key
K=lm-made-key/keys
"$LM" import lm-made-key/stories260K --as signed > /dev/null
"$LM" verify --sig --key $K/lm-test-p256.pub signed
"$LM" verify --sig --key $K/lm-test-p256.pub --json signed
cp "$S/v1.1.0-elliptic-key/keys/certificate/signing-key-pub.pem" upstream.pem
must_fail "$LM" verify --sig --key upstream.pem signed
rm lm-made-key/stories260K/model.sig
"$LM" import lm-made-key/stories260K --as unsigned > /dev/null
must_fail "$LM" verify --sig --key $K/lm-test-p256.pub unsigned
# A signature from elsewhere covers the store model too.
"$LM" sign lm-made-key/stories260K --key $K/lm-test-p256.pem -o other.sig > /dev/null
"$LM" verify --sig --signature other.sig --key $K/lm-test-p256.pub unsigned
# lm sign NAME: the store model's files by name; the signature verifies the directory too.
must_fail "$LM" sign unsigned --key $K/lm-test-p256.pem
"$LM" sign unsigned --key $K/lm-test-p256.pem -o store.sig
"$LM" verify --sig --signature store.sig --key $K/lm-test-p256.pub unsigned
"$LM" verify --sig --signature store.sig --key $K/lm-test-p256.pub lm-made-key/stories260K
