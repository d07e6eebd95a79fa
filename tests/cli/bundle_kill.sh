# kill `lm import` at 20 points of a 200 MiB bundle (LM_FAULT_AT=N raises SIGKILL at the Nth
# write, fsync, rename or index step): each time the index is as before (same models, same audit
# log), every file in blobs/ hashes to its name, and lm verify is clean (what a kill leaves is
# stale temp files and, after the renames, orphan blobs: notices for lm gc). Then the import
# completes, and gc leaves the store exactly verified.
. "$LM_SRC/tests/cli/lib/store.sh"
home_on_tmpfs
set -e
work=$LM_HOME
trap 'rm -rf "$work"' EXIT INT TERM   # LM_HOME changes below: the whole work dir goes
export LM_HOME=$work/src
mkdir "$work/m"
cp "$LM_SRC"/models/demo/* "$work/m/"
chmod u+w "$work"/m/*
# 150 MiB of random bytes as base64 text: 200 MiB that zstd cannot shrink much
head -c 157286400 /dev/urandom | base64 -w 0 > "$work/m/notes.txt"
"$LM" import "$work/m" --as big > /dev/null
rm -rf "$work/m"
"$LM" export big -o "$work/b.tar.zst" > /dev/null
"$LM" import "$LM_SRC/models/demo" --as demo > /dev/null
"$LM" export demo -o "$work/demo.tar" > /dev/null

# The store the kills run against holds a model already: its rows must stay as they are.
export LM_HOME=$work/dst
"$LM" import "$work/demo.tar" > /dev/null
state() { "$LM" list | no_times; "$LM" log | no_times; }
try() { rc=0; LM_FAULT_AT=$1 "$LM" import "$work/b.tar.zst" > /dev/null 2>&1 || rc=$?; }
cp -a "$LM_HOME" "$work/pristine"
reset() { rm -rf "$LM_HOME"; cp -a "$work/pristine" "$LM_HOME"; }

# How many steps a whole import takes: the largest N that kills it. The last step comes after
# the index COMMIT (a kill there finds the import done), so the kills spread over the others.
lo=1 hi=1
while :; do reset; try $hi; [ $rc -eq 0 ] && break; lo=$hi; hi=$((hi * 2)); done
while [ $((hi - lo)) -gt 1 ]; do
    mid=$(((lo + hi) / 2)); reset; try $mid
    if [ $rc -eq 0 ]; then hi=$mid; else lo=$mid; fi
done
steps=$lo
[ "$steps" -ge 200 ] || die "only $steps steps: the bundle is not being streamed in pieces"

reset
before=$(state)
k=1
while [ $k -le 20 ]; do
    at=$(( ((steps - 1) * k + 19) / 20 ))   # the 20th is the step just before COMMIT
    try $at
    [ $rc -eq 137 ] || die "kill $k (step $at of $steps): exit $rc, not killed"
    [ "$(state)" = "$before" ] || die "kill $k (step $at of $steps): the index changed"
    blobs_named_by_content
    "$LM" verify > verify.txt || { cat verify.txt >&2; die "kill $k (step $at): verify failed"; }
    before=$(state)                   # verify adds its own log entry
    echo "kill $k: index unchanged, verify clean"
    k=$((k + 1))
done
"$LM" import "$work/b.tar.zst" | sed 's/(201.0 MiB), [0-9]* new (.*)/(201.0 MiB), NEW/'
"$LM" verify | grep -v '^stale-temp \|^orphan-blob '   # the kills' leftovers: notices
"$LM" gc > /dev/null
"$LM" verify
"$LM" list | no_times | sed "s/^big:latest     [0-9a-f]*/big:latest     ID          /"
