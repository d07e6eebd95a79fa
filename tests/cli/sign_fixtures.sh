# lm verify --sig on every upstream interop fixture, run from the case folder as upstream's own
# test scripts do (key, certificate and Sigstore keyless offline), plus the v0.2.0 refusal.
S=${LM_SHARED:-$LM_SRC/../shared}/signing
[ -d "$S" ] || { echo "no signing fixtures at $S (set LM_SHARED)" >&2; exit 77; }
must_fail() { rc=0; "$@" 2>&1 || rc=$?; [ $rc -eq 1 ] || echo "exit $rc"; }
for v in v0.3.1 v1.0.0 v1.0.1 v1.1.0; do
    c=$v-elliptic-key; m=$c; [ $v = v0.3.1 ] || [ $v = v1.0.0 ] && m=$c/signme-1
    (cd "$S/$c" && "$LM" verify --sig --signature $c/model.sig --ignore-path $c/ignore-me \
        --key keys/certificate/signing-key-pub.pem $m) || echo "exit $?"
    c=$v-certificate
    (cd "$S/$c" && "$LM" verify --sig --signature $c/model.sig --ignore-path $c/ignore-me \
        --cert-chain keys/certificate/ca-cert.pem $c) || echo "exit $?"
    c=$v-sigstore
    (cd "$S/$c" && "$LM" verify --sig --ignore-path $c/ignore-me --trust-root trust/trusted_root.json \
        --identity stefanb@us.ibm.com --issuer https://sigstore.verify.ibm.com/oauth2 $c) ||
        echo "exit $?"
done
(cd "$S/lm-made-key" && "$LM" verify --sig --key keys/lm-test-p256.pub --json stories260K) ||
    echo "exit $?"
(cd "$S/v0.2.0-certificate" && must_fail "$LM" verify --sig \
    --cert-chain keys/certificate/ca-cert.pem v0.2.0-certificate)
