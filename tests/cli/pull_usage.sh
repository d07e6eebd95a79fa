# lm pull: usage errors exit 2 with one line, before the store or the network is touched
. "$LM_SRC/tests/cli/lib/store.sh"
export HF_ENDPOINT=http://127.0.0.1:9   # nothing listens: a request would fail differently
try() { rc=0; "$LM" pull "$@" >out 2>err || rc=$?; echo "exit $rc: $(head -n 1 err)"; }
try
try hf.co/org
try ollama/llama3
try hf.co/org/repo--x
try hf.co/org/repo:
try "hf.co/org/repo@a b"
try https://huggingface.co/org/repo/blob/main/config.json
try --connections 0 hf.co/org/repo
try --connections 65 hf.co/org/repo
try --limit-rate 5X hf.co/org/repo
try --include
try --frobnicate hf.co/org/repo
try hf.co/a/b hf.co/c/d
try --key a.pem --cert-chain b.pem hf.co/org/repo
try --trust-root r.json --identity me@example.com hf.co/org/repo
try --key a.pem --issuer https://issuer.example hf.co/org/repo
try hf.co/org/repo --key
[ ! -e "$LM_HOME" ] || die "a usage error created the store"
"$LM" pull --help | head -n 1
"$LM" help pull | grep -c -- '--limit-rate'
