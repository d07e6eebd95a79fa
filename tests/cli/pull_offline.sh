# lm pull with HF_HUB_OFFLINE=1 from a Hugging Face cache laid out as huggingface_hub writes it
# (refs/main, trees/COMMIT.json, blobs by etag, snapshot links): no request at all, every file
# verified on the way in; without the commit in the cache (or the store) it says so in one line
. "$LM_SRC/tests/cli/lib/store.sh"
need_model stories260K
set -e
export HF_HUB_OFFLINE=1 HF_HOME=$PWD/hf HF_ENDPOINT=http://127.0.0.1:9
src=$LM_MODELS/stories260K
commit=89abcdef0123456789abcdef0123456789abcdef
repo=$HF_HOME/hub/models--tiny-org--stories260K
mkdir -p "$repo/blobs" "$repo/refs" "$repo/trees" "$repo/snapshots/$commit"
tree='{"format_version":1,"files":{'
sep=
for f in LICENSE README.md config.json generation_config.json model.safetensors \
         special_tokens_map.json tokenizer.model tokenizer_config.json; do
    size=$(wc -c < "$src/$f" | tr -d ' ')
    git=$( (printf 'blob %d\000' "$size"; cat "$src/$f") | sha1sum | cut -c1-40)
    case $f in
    *.safetensors|*.model)
        sha=$(sha256sum < "$src/$f" | cut -c1-64); e=$sha
        lfs=",\"lfs_sha256\":\"$sha\",\"lfs_size\":$size" ;;
    *) e=$git; lfs= ;;
    esac
    cp "$src/$f" "$repo/blobs/$e"
    [ "$f" = config.json ] && config_etag=$e
    ln -s "../../blobs/$e" "$repo/snapshots/$commit/$f"
    tree="$tree$sep\"$f\":{\"size\":$size,\"blob_id\":\"$git\"$lfs}"
    sep=,
done
printf '%s}}' "$tree" > "$repo/trees/$commit.json"
printf %s "$commit" > "$repo/refs/main"

"$LM" pull hf.co/tiny-org/stories260K
"$LM" show hf.co/tiny-org/stories260K | no_times
"$LM" verify
# the same commit named by hash, and a GGUF tag the repo cannot answer
"$LM" pull "hf:tiny-org/stories260K@$commit"
must_fail "$LM" pull hf.co/tiny-org/stories260K:Q8_0 2>&1
# a revision the cache does not know, and a repo it has never seen
must_fail "$LM" pull hf.co/tiny-org/stories260K@v2 2>&1
must_fail "$LM" pull hf.co/tiny-org/other 2>&1
# a listed file missing from the cache cannot come from anywhere offline
export LM_HOME=$PWD/home2
rm "$repo/snapshots/$commit/config.json" "$repo/blobs/$config_etag"
must_fail "$LM" pull hf.co/tiny-org/stories260K 2>&1
[ "$(ls "$LM_HOME/tmp" | wc -l)" -eq 0 ] || die "an offline failure left temp files"
