# lm template NAME takes the chat template of a model in the store (here the Qwen2.5 vocabulary
# imported as a GGUF), the same as the file itself gives; an unknown name fails with one line.
[ -f "$LM_MODELS/vocab/ggml-vocab-qwen2.5.gguf" ] || { echo "no fixtures in $LM_MODELS" >&2; exit 77; }
set -u
printf '%s' '[{"role": "user", "content": "Hello"}]' > c.json
"$LM" import "$LM_MODELS/vocab/ggml-vocab-qwen2.5.gguf" --as qwen-vocab >/dev/null 2>&1 || echo "import failed"
"$LM" template qwen-vocab --messages c.json --json; echo "[exit $?]"
"$LM" template "$LM_MODELS/vocab/ggml-vocab-qwen2.5.gguf" --messages c.json --json > file.json
"$LM" template qwen-vocab --messages c.json --json | cmp - file.json && echo "same as the file"
"$LM" template no-such-model --messages c.json; echo "[exit $?]"
