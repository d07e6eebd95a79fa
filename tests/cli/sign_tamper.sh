# lm sign then lm verify --sig on copies of fixtures, and tampered copies refused with one line:
# a changed byte, an added file, a removed file, a changed statement, a wrong key, a wrong
# identity and issuer; usage errors exit 2.
S=${LM_SHARED:-$LM_SRC/../shared}/signing
[ -d "$S" ] || { echo "no signing fixtures at $S (set LM_SHARED)" >&2; exit 77; }
must_fail() { rc=0; "$@" 2>&1 || rc=$?; echo "exit $rc"; }
fresh() { rm -rf "$1"; cp -r "$S/$1" . && chmod -R u+w "$1"; }
K=lm-made-key/keys

fresh lm-made-key
rm lm-made-key/stories260K/model.sig
echo "-- sign and verify"
"$LM" sign lm-made-key/stories260K --key $K/lm-test-p256.pem
"$LM" verify --sig --key $K/lm-test-p256.pub lm-made-key/stories260K
"$LM" sign lm-made-key/stories260K/config.json --key $K/lm-test-p256.pem -o one.sig
"$LM" verify --sig --signature one.sig --key $K/lm-test-p256.pub lm-made-key/stories260K/config.json
echo "-- changed byte"
printf 'X' | dd of=lm-made-key/stories260K/tokenizer.model bs=1 seek=100 conv=notrunc 2>/dev/null
must_fail "$LM" verify --sig --key $K/lm-test-p256.pub lm-made-key/stories260K
fresh v1.1.0-elliptic-key
echo "-- wrong key"
must_fail "$LM" verify --sig --key $K/lm-test-p256.pub v1.1.0-elliptic-key/v1.1.0-elliptic-key
echo "-- added file"
echo extra > v1.1.0-elliptic-key/v1.1.0-elliptic-key/extra.txt
must_fail "$LM" verify --sig --key v1.1.0-elliptic-key/keys/certificate/signing-key-pub.pem \
    v1.1.0-elliptic-key/v1.1.0-elliptic-key
echo "-- ignored with --ignore-path"
"$LM" verify --sig --key v1.1.0-elliptic-key/keys/certificate/signing-key-pub.pem \
    --ignore-path extra.txt v1.1.0-elliptic-key/v1.1.0-elliptic-key
echo "-- removed file"
rm v1.1.0-elliptic-key/v1.1.0-elliptic-key/signme-1
must_fail "$LM" verify --sig --key v1.1.0-elliptic-key/keys/certificate/signing-key-pub.pem \
    --ignore-path extra.txt v1.1.0-elliptic-key/v1.1.0-elliptic-key
echo "-- changed statement"
fresh v1.1.0-certificate
sig=v1.1.0-certificate/v1.1.0-certificate/model.sig
sed 's/"payload": *"ew/"payload":"eW/' $sig > t && mv t $sig
must_fail "$LM" verify --sig --cert-chain v1.1.0-certificate/keys/certificate/ca-cert.pem \
    v1.1.0-certificate/v1.1.0-certificate
echo "-- wrong identity, wrong issuer"
c=v1.1.0-sigstore
fresh $c
must_fail "$LM" verify --sig --trust-root $c/trust/trusted_root.json --identity eve@example.com \
    --issuer https://sigstore.verify.ibm.com/oauth2 $c/$c
must_fail "$LM" verify --sig --trust-root $c/trust/trusted_root.json \
    --identity stefanb@us.ibm.com --issuer https://github.com/login/oauth $c/$c
echo "-- changed byte, keyless"
printf 'X' | dd of=$c/$c/signme-2 bs=1 seek=0 conv=notrunc 2>/dev/null
must_fail "$LM" verify --sig --trust-root $c/trust/trusted_root.json --identity stefanb@us.ibm.com \
    --issuer https://sigstore.verify.ibm.com/oauth2 $c/$c
echo "-- wrong trust root"
must_fail "$LM" verify --sig --trust-root $K/lm-test-p256.pub --identity stefanb@us.ibm.com \
    --issuer https://sigstore.verify.ibm.com/oauth2 $c/$c
echo "-- usage"
must_fail "$LM" verify --sig lm-made-key/stories260K
must_fail "$LM" verify --sig --key a.pem --cert-chain b.pem lm-made-key/stories260K
must_fail "$LM" verify --sig --trust-root r.json lm-made-key/stories260K
must_fail "$LM" sign lm-made-key/stories260K
