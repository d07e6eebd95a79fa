# lm tokenize / detokenize refuse bad input with one line and the right exit code, never a crash
[ -d "$LM_MODELS/vocab" ] || { echo "no LM_MODELS fixtures" >&2; exit 77; }
ln -s "$LM_MODELS/vocab/ggml-vocab-gpt-2.gguf" gpt2.gguf
ln -s "$LM_MODELS/vocab/ggml-vocab-bert-bge.gguf" bert.gguf
ln -s "$LM_MODELS/vocab/ggml-vocab-gpt-2.gguf.inp" notgguf.gguf
run() {
    rc=0; "$@" >/dev/null 2>err.txt || rc=$?
    [ $rc -le 2 ] || { echo "crash: exit $rc"; exit 1; }
    echo "exit $rc: $(head -n 1 err.txt) ($(wc -l < err.txt) lines)"
}
run "$LM" tokenize
run "$LM" tokenize gpt2.gguf
run "$LM" tokenize --bogus gpt2.gguf hi
run "$LM" tokenize --json --ids gpt2.gguf hi
run "$LM" tokenize --stdin gpt2.gguf hi
run "$LM" tokenize ./no-such.gguf hi
run "$LM" tokenize bert.gguf hi
run "$LM" tokenize notgguf.gguf hi
run "$LM" detokenize gpt2.gguf
run "$LM" detokenize gpt2.gguf 50257
run "$LM" detokenize gpt2.gguf 12x
run "$LM" detokenize gpt2.gguf 99999999999
run "$LM" detokenize --bogus gpt2.gguf 1
