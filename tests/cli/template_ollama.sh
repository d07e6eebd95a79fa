# lm template --file renders Ollama's own Go templates (chat-templates/ollama) as Ollama does:
# .Messages templates see merged same-role messages and all system text in .System.
[ -d "$LM_MODELS/chat-templates/ollama" ] || { echo "no fixtures in $LM_MODELS" >&2; exit 77; }
set -u
printf '%s' '[{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
 {"role": "user", "content": "U1b"}, {"role": "assistant", "content": "A1"},
 {"role": "user", "content": "U2"}]' > c.json
for t in vicuna llama3-instruct gemma-instruct mistral-instruct; do
    "$LM" template --file "$LM_MODELS/chat-templates/ollama/$t.gotmpl" --messages c.json
    echo "[exit $?]"
done
