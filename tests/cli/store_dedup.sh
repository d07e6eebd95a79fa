# a second model that shares files with the first stores no new copy of them: blob count and
# disk usage grow only by what is new
. "$LM_SRC/tests/cli/lib/store.sh"
need_model tiny-llama-256
set -e
cp -r "$LM_SRC/models/demo" a
"$LM" import a --as first
kib0=$(du -sk "$LM_HOME/blobs" | cut -f1)
# a fine-tune of the same model: only the config differs (1.1 MB of files, one of them new)
cp -r a b
chmod u+w b/config.json
sed 's/"use_cache": true/"use_cache": false/' a/config.json > b/config.json
"$LM" import b --as second
kib1=$(du -sk "$LM_HOME/blobs" | cut -f1)
[ "$(blobs)" -eq 8 ] || die "$(blobs) blobs, want 7 + 1"
[ $((kib1 - kib0)) -le 8 ] || die "disk usage grew by $((kib1 - kib0)) KiB for one 628-byte file"
# another fixture: it shares its tokenizer and generation config with the first
copy_model tiny-llama-256 c
"$LM" import c --as third
[ "$(blobs)" -eq 13 ] || die "$(blobs) blobs, want 8 + 5 new"
kib2=$(du -sk "$LM_HOME/blobs" | cut -f1)
want=0
for f in c/*; do   # the blocks of the files that were not blobs yet
    h=$(sha256sum < "$f" | cut -c1-64)
    case $h in 8d3638b1d8dd*|6fa06efa2785*|92f3a85a5e02*) continue ;; esac   # shared with first
    want=$((want + $(du -k "$f" | cut -f1)))
done
[ $((kib2 - kib1)) -eq $want ] || die "disk usage grew by $((kib2 - kib1)) KiB, want $want"
"$LM" verify
"$LM" list | no_times
