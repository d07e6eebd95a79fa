# four `lm import` of the same model at once, three rounds: all succeed, each blob is stored
# once (one file per digest, one link each), nothing is left in tmp/, verify passes
. "$LM_SRC/tests/cli/lib/store.sh"
need_model tiny-llama-256
set -e
copy_model tiny-llama-256 m
for round in 1 2 3; do
    rm -rf "$LM_HOME"
    pids=
    for i in 1 2 3 4; do
        "$LM" import m --as "same:v$round" > "out$i.txt" 2>&1 &
        pids="$pids $!"
    done
    for p in $pids; do
        wait "$p" || { cat out*.txt; die "round $round: an import failed"; }
    done
    [ "$(blobs)" -eq 8 ] || die "round $round: $(blobs) blob files, want 8"
    [ "$(temps)" -eq 0 ] || die "round $round: tmp/ is not empty"
    for b in "$LM_HOME"/blobs/sha256/*; do
        [ "$(stat -c %h "$b")" -eq 1 ] || die "round $round: ${b##*/} has extra links"
    done
    "$LM" verify > verify.txt || { cat verify.txt; die "round $round: verify failed"; }
    [ "$("$LM" log | grep -c ' import ')" -eq 4 ] || die "round $round: want 4 import entries"
done
"$LM" list | no_times
