# lm convert with the store: a safetensors model in the store as SRC (stored as NAME:OUTTYPE, its
# weights llama.cpp's bytes, with a derivation record pointing at the source manifest), --as for
# a directory, and refusals (an unknown name, a GGUF model as SRC, -o with --as) that store
# nothing.
. "$LM_SRC/tests/cli/lib/store.sh"
need_model stories260K
set -e
copy_model stories260K stories260K
"$LM" import stories260K > /dev/null
src=$("$LM" show --json stories260K:latest | sed -n 's/^  "digest": "\([0-9a-f]*\)",$/\1/p')
"$LM" convert stories260K:latest --outtype q8_0
sha256sum < "$(blob_of stories260K:q8_0 model-Q8_0.gguf)"
"$LM" show --json stories260K:q8_0 | grep -E '"(operation|outtype|file_type|role)"' | tr -d ' '
in=$("$LM" show --json stories260K:q8_0 | sed -n 's/^ *"input_manifest": "\([0-9a-f]*\)",$/\1/p')
[ -n "$src" ] && [ "$in" = "$src" ] || die "derivation input $in is not the source manifest $src"
"$LM" convert stories260K --as st:f16 --outtype f16
sha256sum < "$(blob_of st:f16 model-F16.gguf)"
"$LM" show --json st:f16 | grep -E '"(kind|url)"' | no_times | tr -d ' '
n=$(blobs)
must_fail "$LM" convert nosuch:latest 2>&1 || die "converting an unknown name did not fail"
must_fail "$LM" convert st:f16 2>&1 || die "converting a GGUF model did not fail"
rc=0; "$LM" convert stories260K -o x.gguf --as y 2>/dev/null || rc=$?
[ $rc -eq 2 ] || die "-o with --as: exit $rc, want 2"
[ "$(blobs)" -eq "$n" ] && [ "$(temps)" -eq 0 ] || die "a refused conversion stored something"
[ ! -e x.gguf ] || die "a refused conversion wrote x.gguf"
blobs_named_by_content
