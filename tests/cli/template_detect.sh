# lm template --file: templates are recognised by their markers as llama.cpp does (never run),
# each rendered by its built-in formatter; one nobody recognises falls back to chatml with one
# warning line naming the fallback.
set -u
conv='[{"role": "system", "content": " sys "}, {"role": "user", "content": " hi "},
       {"role": "assistant", "content": " yo "}, {"role": "user", "content": "more"}]'
printf '%s' "$conv" > c.json
t() { printf '%s' "$1" > t.jinja; "$LM" template --file t.jinja --messages c.json 2>err.txt
      echo "[exit $?]"; cat err.txt; }
t "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}{{ message['content'] | trim }}"
t "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m.role }}{% endfor %}"
t "{{ '[SYSTEM_PROMPT]' }}{{ '[INST]' }}"
t "{% for m in messages %}{{ m.content }}{% endfor %}{{ raise_exception('x') }}"
t "chatml"
t "<|assistant|><|user|>{{ eos_token }}"
