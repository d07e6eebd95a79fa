# lm create from a Modelfile: FROM the demo model in the store (safetensors, converted on the
# way in), a SYSTEM line, a TEMPLATE and PARAMETER temperature 0; lm run gives the same text
# twice, stops at a stop parameter, and the layers carry Ollama's media types. lm show
# --modelfile re-creates the model; FROM a checkpoint directory and FROM a GGUF file work too.
[ -d "$LM_SRC/models/demo" ] || { echo "no demo model in $LM_SRC/models" >&2; exit 77; }
set -e
"$LM" --quiet import "$LM_SRC/models/demo" --as demo >/dev/null
cat > Modelfile <<'MF'
# a story teller
FROM demo
SYSTEM """Once upon a time,"""
TEMPLATE "{{ if .System }}{{ .System }} {{ end }}{{ .Prompt }}"
PARAMETER temperature 0
PARAMETER num_predict 48
LICENSE "MIT, as the demo model"
MF
"$LM" create story -f Modelfile
echo "== run twice"
"$LM" run story "there was a girl" > a.txt
"$LM" run story "there was a girl" > b.txt
cmp a.txt b.txt
printf 'there was a girl' | "$LM" run story | cmp - a.txt   # the prompt from stdin
cat a.txt
echo "== the system and template as given to the model: the same as --raw on the whole text"
"$LM" run --raw -n 48 --temperature 0 story "Once upon a time, there was a girl"
echo "== layers"
"$LM" show --json story | grep -E '"(path|role|media_type)"' | tr -d ' ,' | paste - - -
"$LM" show --json story | grep -E '"(operation|outtype|from)"' | tr -d ' '
echo "== lm template renders the stored Go template"
printf '%s' '[{"role": "user", "content": "there was a girl"}]' > c.json
"$LM" template story --messages c.json; echo
echo "== show --modelfile"
"$LM" show story --modelfile | sed 's|FROM /.*/blobs/sha256/[0-9a-f]*$|FROM BLOB|'
"$LM" show story --modelfile > Modelfile2
"$LM" create story2 -f Modelfile2 | sed 's|from /.*|from BLOB|'
"$LM" run story2 "there was a girl" | cmp - a.txt
echo "== a stop parameter, command-line options over the Modelfile"
printf 'FROM story\nPARAMETER stop " ball"\n' > Modelfile3
"$LM" create story3 -f Modelfile3
"$LM" run story3 "there was a girl"
"$LM" run -n 5 story3 "there was a girl"
"$LM" show story3 --modelfile | grep PARAMETER
echo "== FROM a checkpoint directory, FROM a GGUF file (relative to the Modelfile)"
mkdir sub
printf 'FROM %s\nPARAMETER temperature 0\nPARAMETER num_predict 16\n' "$LM_SRC/models/demo" > sub/Modelfile
"$LM" create fromdir -f sub/Modelfile | sed 's|from .*/|from |'
"$LM" run fromdir "Once upon a time"
"$LM" --quiet convert "$LM_SRC/models/demo" --outtype f32 -o sub/demo.gguf >/dev/null
printf 'FROM ./demo.gguf\nPARAMETER temperature 0\nPARAMETER num_predict 16\n' > sub/Modelfile
"$LM" create fromfile -f sub/Modelfile | sed 's|from .*/|from |'
"$LM" run fromfile "Once upon a time"
echo "== MESSAGE lines go before the prompt"
printf 'FROM fromfile\nMESSAGE user "Once upon a time,"\nMESSAGE assistant " there was a girl"\n' > sub/Modelfile
"$LM" create withmsgs -f sub/Modelfile
"$LM" show withmsgs --modelfile | grep '^MESSAGE'
"$LM" run withmsgs " who liked" > m.txt
"$LM" run fromfile "Once upon a time, there was a girl who liked" | cmp - m.txt
cat m.txt
"$LM" list | awk 'NR > 1 { print $1 }' | sort
