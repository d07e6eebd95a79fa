# lm template --file X.gotmpl renders Ollama Go templates as Ollama does; hostile templates stop
# with one line and exit 1: the evaluator is bounded in steps, nesting and output, and has no
# functions beyond its list.
set -u
printf '%s' '[{"role": "system", "content": "S"}, {"role": "user", "content": "U1"},
 {"role": "assistant", "content": "A1"}, {"role": "user", "content": "U2"}]' > c.json
g() { printf '%s' "$1" > t.gotmpl; "$LM" template --file t.gotmpl --messages c.json 2>err.txt
      echo "[exit $?]"; cat err.txt; }
g '{{- range .Messages }}<|{{ .Role }}|>
{{ .Content }}</s>
{{ end }}<|assistant|>
'
g '{{ if .System }}[{{ .System }}]{{ end }}{{ .Prompt }} -> {{ .Response }}
'
g '{{ range 20000000 }}{{ end }}{{ .Messages }}'
g '{{ call .Messages }}'
g '{{ template "x" }}'
g '{{ $s := "0123456789abcdef" }}{{ range 30 }}{{ $s = printf "%s%s" $s $s }}{{ end }}{{ len .Messages }}'
g "$(i=0; while [ $i -lt 120 ]; do printf '{{ if 1 }}'; i=$((i+1)); done)"
g '{{ range .Messages }}{{ .Content.Foo }}{{ end }}'
