# lm template refuses bad input with one line and exit 1 (bad JSON, messages without content, a
# NUL in a message, missing files), and bad usage with exit 2.
set -u
r() { "$@" >out.txt 2>err.txt; echo "[exit $?] out $(wc -l < out.txt) err $(wc -l < err.txt)"
      head -n 1 err.txt; }
printf '%s' '[{"role": "user", "content": "hi"}]' > ok.json
printf '%s' '{"messages": [{"role": "user", "content": "hi"}' > bad.json
printf '%s' '{"messages": [{"role": "user"}]}' > nocontent.json
printf '%s' '[{"role": "user", "content": "a\u0000b"}]' > nul.json
printf '%s' 'chatml' > t.jinja
r "$LM" template --file t.jinja --messages bad.json
r "$LM" template --file t.jinja --messages nocontent.json
r "$LM" template --file t.jinja --messages nul.json
r "$LM" template --file t.jinja --messages missing.json
r "$LM" template --file missing.jinja --messages ok.json
r "$LM" template missing.gguf --messages ok.json
printf 'GGUF\003\0\0\0' > short.gguf
r "$LM" template short.gguf --messages ok.json
r "$LM" template --file t.jinja
r "$LM" template --messages ok.json
r "$LM" template --file t.jinja --messages ok.json --bogus
r "$LM" template --file t.jinja --messages ok.json
