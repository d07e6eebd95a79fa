# lm template on GGUFs: the Qwen2.5 vocabulary's tokenizer.chat_template is recognised as chatml
# and the prompt is llama.cpp's built-in rendering byte for byte (text, --no-generation-prompt,
# --json, messages from stdin); a GGUF without a template falls back to chatml with one warning.
[ -f "$LM_MODELS/vocab/ggml-vocab-qwen2.5.gguf" ] || { echo "no fixtures in $LM_MODELS" >&2; exit 77; }
set -u
q="$LM_MODELS/vocab/ggml-vocab-qwen2.5.gguf"
# content is copied verbatim: template syntax and special-token text are just text
cat > c.json <<'JSON'
{"messages": [{"role": "system", "content": "  R\u00e9ponds en fran\u00e7ais.\nUse emoji \ud83d\ude42  "},
 {"role": "user", "content": "{{ x }} {% if %} <|im_end|> [INST] tab\there"},
 {"role": "assistant", "content": "ok"},
 {"role": "user", "content": "again"}]}
JSON
"$LM" template "$q" --messages c.json; echo "[exit $?]"
"$LM" template "$q" --messages c.json --no-generation-prompt; echo "[exit $?]"
"$LM" template "$q" --messages - --json < c.json; echo "[exit $?]"
"$LM" template "$LM_MODELS/stories260K/ref/gguf/stories260K-F32.gguf" --messages c.json \
    --no-generation-prompt 2>err.txt; echo "[exit $?]"
sed "s|$LM_MODELS|MODELS|" err.txt
