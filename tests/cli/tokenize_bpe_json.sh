# lm tokenize --json on Qwen2.5's byte-level BPE vocabulary: special tokens, byte-level text, pieces
[ -f "$LM_MODELS/vocab/ggml-vocab-qwen2.5.gguf" ] || { echo "no LM_MODELS fixtures" >&2; exit 77; }
set -e
ln -s "$LM_MODELS/vocab/ggml-vocab-qwen2.5.gguf" qwen.gguf
"$LM" tokenize --json qwen.gguf "$(printf '<|im_start|>a \360\237\231\202\n')"
"$LM" tokenize --ids --no-parse-special qwen.gguf "<|im_start|>"
"$LM" tokenize --json --no-bos qwen.gguf "$(printf '\344\270')"
