# hostile imports are refused with one line, exit 1 and nothing stored: a pickle checkpoint, a
# broken safetensors header, a GGUF with a bad tensor count, a symlink out of the directory,
# a Python file, a text file with a NUL byte, a config that is not JSON, bad names
. "$LM_SRC/tests/cli/lib/store.sh"
need_model stories260K
set -e
gguf=$LM_MODELS/stories260K/ref/gguf/stories260K-Q8_0-convert.gguf
fresh() { rm -rf m; cp -r "$LM_SRC/models/demo" m; chmod -R u+w m; }
refused() {
    must_fail "$LM" "$@" 2>err.txt || die "lm $* did not fail cleanly"
    sed "s|$PWD|PWD|g" err.txt
    [ "$(wc -l < err.txt)" -eq 1 ] || die "lm $*: more than one line on stderr"
    [ "$(blobs)" -eq 0 ] && [ "$(temps)" -eq 0 ] || die "lm $*: something was stored"
}
"$LM" list > /dev/null   # creates the empty store

fresh; printf 'pickle\200\002' > m/pytorch_model.bin
refused import m
fresh; printf 'x' > m/model.ckpt
refused import m

fresh; printf '\377\377\377\377\377\377\377\177' | dd of=m/model.safetensors conv=notrunc 2>/dev/null
refused import m

cp "$gguf" bad.gguf
printf '\377\377\377\377\377\377\377\177' | dd of=bad.gguf bs=1 seek=8 conv=notrunc 2>/dev/null
refused import bad.gguf
mkdir g; cp bad.gguf g/model.gguf
refused import g

fresh; ln -s /etc/hostname m/notes.txt
refused import m
fresh; mkdir outside; echo secret > outside/x.txt; ln -s ../outside/x.txt m/x.txt
refused import m

fresh; echo 'import os' > m/modeling.py
refused import m
fresh; printf 'MIT\000' > m/LICENSE
refused import m
fresh; printf '{"model_type": ' > m/config.json
refused import m
fresh; rm m/model.safetensors
refused import m

fresh
refused import m --as 'a/:x'
refused import m --as 'bad name'
refused import m --as '-x'
refused import m --as 'a/b/c/d/e'
refused import m --as 'x:y:z'
refused import m --as "$(printf 'n\033[31m')"
refused show nothing-here
"$LM" list
