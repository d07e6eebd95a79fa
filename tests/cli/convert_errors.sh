# lm convert refuses broken checkpoints with one line naming the file, exit 1, and no output file
# (nor a temporary one): a missing shard, shards that disagree with the index, a tensor whose shape
# disagrees with config.json, dtypes it cannot read, a tensor it cannot place, an unsupported
# architecture, no tokenizer, no config.json.
[ -d "$LM_MODELS/tiny-llama-256" ] || { echo "no fixtures in $LM_MODELS" >&2; exit 77; }
set -e
die() { echo "$*" >&2; exit 1; }
refused() {
    rm -rf out; mkdir out
    rc=0; "$LM" convert "$1" -o out/x.gguf 2>err.txt >/dev/null || rc=$?
    [ $rc -eq 1 ] || die "lm convert $1: exit $rc, want 1"
    cat err.txt
    [ "$(wc -l < err.txt)" -eq 1 ] || die "lm convert $1: not one line on stderr"
    [ -z "$(ls -A out)" ] || die "lm convert $1: left $(ls -A out) behind"
}
# a fresh copy of a fixture's files in directory $2
fresh() { rm -rf "$2"; mkdir "$2"; for f in "$LM_MODELS/$1"/*; do [ -f "$f" ] && cp "$f" "$2/"; done; chmod -R u+w "$2"; }
# overwrite the first occurrence of $2 in file $1 with $3 (same length)
patch() {
    off=$(LC_ALL=C grep -obUa -- "$2" "$1" | head -n 1 | cut -d: -f1)
    [ -n "$off" ] || die "no '$2' in $1"
    printf '%s' "$3" | dd of="$1" bs=1 seek="$off" conv=notrunc 2>/dev/null
}

fresh tiny-llama-256 t; rm t/model-00002-of-00002.safetensors
refused t
fresh tiny-llama-256 t; patch t/model.safetensors.index.json '"model.norm.weight"' '"model.norm.weighs"'
refused t
fresh tiny-llama-256 t; patch t/model.safetensors.index.json '"model.norm.weight": "model-00002' '"model.norm.weight": "model-00001'
refused t
fresh tiny-llama-256 t; patch t/config.json '"intermediate_size": 768' '"intermediate_size": 512'
refused t
fresh tiny-llama-256 t; patch t/config.json '"vocab_size": 512' '"vocab_size": 511'
refused t
fresh stories260K s; patch s/model.safetensors '"dtype":"F32"' '"dtype":"I32"'
refused s
fresh stories260K s; patch s/model.safetensors '"dtype":"F32"' '"dtype":"Q32"'
refused s
fresh stories260K s; patch s/model.safetensors '"model.norm.weight"' '"model.nurm.weight"'
refused s
fresh tiny-qwen2-256 q; patch q/config.json 'Qwen2ForCausalLM' 'Qwen9ForCausalLM'
refused q
fresh tiny-qwen2-256 q; rm q/tokenizer.model
refused q
fresh tiny-qwen2-256 q; rm q/config.json
refused q
echo ok
