# lm detokenize: ids back to text, special tokens shown or not, BOS removed, ids from stdin
[ -d "$LM_MODELS/stories260K" ] && [ -d "$LM_MODELS/vocab" ] || { echo "no LM_MODELS fixtures" >&2; exit 77; }
set -e
ln -s "$LM_MODELS/stories260K/ref/gguf/stories260K-F32.gguf" m.gguf
ln -s "$LM_MODELS/vocab/ggml-vocab-qwen2.5.gguf" qwen.gguf
ids=$("$LM" tokenize --ids m.gguf "Hello world, caf$(printf '\303\251')!")
echo "$ids"
echo "$ids" | "$LM" detokenize --stdin m.gguf
echo "$ids" | "$LM" detokenize --stdin --remove-special m.gguf
"$LM" detokenize --no-special m.gguf 1 15 2
"$LM" detokenize m.gguf 1,15,2
"$LM" detokenize qwen.gguf 151644 872 198 9707 0 151645
"$LM" detokenize --json qwen.gguf 27484 198
