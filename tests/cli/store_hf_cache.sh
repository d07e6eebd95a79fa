# import from a Hugging Face cache snapshot (made here as huggingface_hub lays it out): files are
# hard-linked, not copied; repo and commit are recorded; tampered cache files are refused
. "$LM_SRC/tests/cli/lib/store.sh"
need_model tiny-llama-256
set -e
src=$LM_MODELS/tiny-llama-256
commit=0123456789abcdef0123456789abcdef01234567
repo=$PWD/hub/models--tiny-org--tiny-llama-256
snap=$repo/snapshots/$commit
mkdir -p "$repo/blobs" "$snap" "$repo/refs"
for f in config.json generation_config.json model-00001-of-00002.safetensors \
         model-00002-of-00002.safetensors model.safetensors.index.json special_tokens_map.json \
         tokenizer.model tokenizer_config.json; do
    case $f in   # LFS files are named by sha256, the others by their git blob id
    *.safetensors|*.model) e=$(sha256sum < "$src/$f" | cut -c1-64) ;;
    *) e=$( (printf 'blob %d\000' "$(wc -c < "$src/$f")"; cat "$src/$f") | sha1sum | cut -c1-40) ;;
    esac
    cp "$src/$f" "$repo/blobs/$e"
    ln -s "../../blobs/$e" "$snap/$f"
done
printf %s "$commit" > "$repo/refs/main"

"$LM" import "$snap"
"$LM" show hf.co/tiny-org/tiny-llama-256 | no_times
# zero-copy: each cache blob now has a second link, the store's, on the same inode
for b in "$repo"/blobs/*; do
    [ "$(stat -c %h "$b")" -eq 2 ] || die "$b has $(stat -c %h "$b") links"
done
for b in "$LM_HOME"/blobs/sha256/*; do
    ls -i "$repo/blobs" | grep -q "^ *$(stat -c %i "$b") " || die "${b##*/} is a copy"
done
# ... so the store's blobs add no data blocks to the cache's (du counts an inode once)
kib=$(du -sk "$repo" "$LM_HOME/blobs" | tail -n 1 | cut -f1)
[ "$kib" -le 8 ] || die "store blobs add $kib KiB to the cache"
"$LM" show --json hf.co/tiny-org/tiny-llama-256 | grep -c '"algorithm": "git-sha1"'
"$LM" show --json hf.co/tiny-org/tiny-llama-256 | grep -c '"algorithm": "sha256"'
"$LM" import "$snap" --as again
"$LM" verify

# tampered cache files: refused, nothing stored (fresh store)
export LM_HOME=$PWD/home2
st=$(readlink "$snap/model-00002-of-00002.safetensors")
chmod u+w "$snap/$st"
printf 'X' | dd of="$snap/$st" bs=1 seek=4000 conv=notrunc 2>/dev/null
must_fail "$LM" import "$snap" 2>&1 | sed "s|$PWD|PWD|g"
cp "$src/model-00002-of-00002.safetensors" "$snap/$st"
cfg=$(readlink "$snap/config.json")
printf ' ' >> "$snap/$cfg"
must_fail "$LM" import "$snap" 2>&1 | sed "s|$PWD|PWD|g"
cp "$src/config.json" "$snap/$cfg"
echo '{}' > outside.json
ln -s ../../../../outside.json "$snap/extra.json"
must_fail "$LM" import "$snap" 2>&1 | sed "s|$PWD|PWD|g"
[ "$(blobs)" -eq 0 ] && [ "$(temps)" -eq 0 ] || die "a refused import stored something"
