# lm tokenize / detokenize take a model name from the store as well as a GGUF file
[ -f "$LM_MODELS/stories260K/ref/gguf/stories260K-F32.gguf" ] || { echo "no LM_MODELS fixtures" >&2; exit 77; }
set -e
"$LM" import "$LM_MODELS/stories260K/ref/gguf/stories260K-F32.gguf" --as stories > /dev/null
"$LM" tokenize --ids stories "Hello world"
"$LM" detokenize stories 1 346 306 414 263 304 341
rc=0; "$LM" tokenize --ids nosuchmodel hi 2> err.txt || rc=$?
echo "exit $rc: $(cat err.txt)"
