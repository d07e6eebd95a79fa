# lm create refuses a bad Modelfile with one line, Modelfile:LINE: what is wrong, exit 1, and
# creates nothing (no model, no blob); usage errors exit 2.
[ -d "$LM_SRC/models/demo" ] || { echo "no demo model in $LM_SRC/models" >&2; exit 77; }
set -e
try() { rc=0; "$LM" "$@" >out.txt || rc=$?; echo "exit $rc"; [ ! -s out.txt ] || cat out.txt; }
mf() { printf "$1" > Modelfile; try create bad -f Modelfile; }
try create
try create -f
try create 'bad name!' -f Modelfile
try create bad -f missing
"$LM" --quiet import "$LM_SRC/models/demo" --as demo >/dev/null
blobs=$(ls "$LM_HOME/blobs/sha256" | wc -l)
mf ''
mf 'FROM demo\nFROM demo\n'
mf 'FROM demo\nPARAMETER temperature hot\n'
mf 'FROM demo\nPARAMETER bogus 1\n'
mf 'FROM demo\nPARAMETER num_ctx 1.5\n'
mf 'FROM demo\nADAPTER ./lora.gguf\n'
mf 'FROM demo\nMESSAGE robot hello\n'
mf 'FROM demo\nTEMPLATE "{{ .Prompt "\n'
mf 'FROM demo\nTEMPLATE "{{ call .Prompt }}"\n'
mf 'FROM demo\nSYSTEM """never closed\n'
mf 'FROM demo\nNONSENSE x\n'
mf '# comment only\nSYSTEM hi\n'
mf 'FROM nothere\n'
mf 'FROM ./nothere.gguf\n'
printf 'not a gguf' > fake.gguf
mf 'FROM fake.gguf\n'
"$LM" list | awk 'NR > 1 { print $1 }'
echo "blobs added: $(( $(ls "$LM_HOME/blobs/sha256" | wc -l) - blobs ))"
