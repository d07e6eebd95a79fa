# lm run's refusals: usage errors exit 2 before anything is read, a broken or hostile model exits
# 1 with one line naming the file and the byte, and nothing crashes (the exit codes are printed).
g="$LM_MODELS/stories260K/ref/gguf"
[ -f "$g/stories260K-F32.gguf" ] || { echo "no fixtures in $LM_MODELS" >&2; exit 77; }
m="$g/stories260K-F32.gguf"
try() { rc=0; "$LM" "$@" >out.txt || rc=$?; echo "exit $rc"; [ ! -s out.txt ] || cat out.txt; }
# overwrite bytes at offset $2 of file $1 with the printf escapes $3
poke() { printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }

try run
try run --kv-type f8 "$m" x
try run --temperature -1 "$m" x
try run --top-p 2 "$m" x
try run -n many "$m" x
try run --bogus "$m" x
try run --logits-out l.bin "$m" x
try run "$m" a b c
try run missing.gguf x
printf 'GGUF' > short.gguf
try run short.gguf x
cp "$m" bad.gguf && chmod u+w bad.gguf
poke bad.gguf 220 '\000\000\000\000'          # llama.block_count = 0
try run bad.gguf x
cp "$m" bad.gguf && chmod u+w bad.gguf
poke bad.gguf 220 '\377\377\377\377'          # llama.block_count = 4294967295
try run bad.gguf x
try run --ctx 4 --raw "$m" "Once upon a time there was"
try run --raw -n 2 --temperature 0 "$m" ""
