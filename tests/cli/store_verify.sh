# lm verify names each damaged blob with its problem class and the models using it, exit 1:
# a flipped byte (digest-mismatch), a truncated blob (size-mismatch), a deleted one
# (missing-blob); leftovers (orphan-blob, stale-temp) are reported but do not fail
. "$LM_SRC/tests/cli/lib/store.sh"
set -e
cp -r "$LM_SRC/models/demo" demo
"$LM" import demo > /dev/null
"$LM" cp demo copy-of-demo > /dev/null
st=$(blob_of demo model.safetensors)
cfg=$(blob_of demo config.json)
cp "$st" st.good
cp "$cfg" cfg.good
chmod u+w "$st" "$cfg"
step() { echo "-- $1"; rc=0; "$LM" verify > out.txt || rc=$?; cat out.txt; echo "exit $rc"; }

printf '\001' | dd of="$st" bs=1 seek=500000 conv=notrunc 2>/dev/null
step "flip one byte"
cp st.good "$st"
truncate -s 100 "$cfg"
step "truncate"
rm "$cfg"
step "delete"
cp cfg.good "$cfg"
step "repaired"
echo junk > "$LM_HOME/blobs/sha256/$(printf 'a%.0s' $(seq 64))"
echo partial > "$LM_HOME/tmp/123-abcdef.part"
step "orphan and stale temp"
"$LM" gc
step "after gc"
# any blob, any class: each is named, and verify fails
for b in "$LM_HOME"/blobs/sha256/*; do
    chmod u+w "$b"
    cp "$b" good
    for damage in flip truncate delete; do
        case $damage in
        flip) printf '\377' | dd of="$b" bs=1 seek=1 conv=notrunc 2>/dev/null; class=digest-mismatch ;;
        truncate) truncate -s 1 "$b"; class=size-mismatch ;;
        delete) rm "$b"; class=missing-blob ;;
        esac
        must_fail "$LM" verify > out.txt || die "$damage ${b##*/}: verify did not fail"
        grep -q "^$class blobs/sha256/${b##*/}: " out.txt || die "$damage ${b##*/}: not named"
        cp good "$b"
    done
done
"$LM" verify > /dev/null
printf '\001' | dd of="$st" bs=1 seek=4 conv=notrunc 2>/dev/null
echo "-- only one model, as JSON"
rc=0; "$LM" verify copy-of-demo --json || rc=$?
echo "exit $rc"
echo "-- a damaged index"
printf '\336\255%.0s' $(seq 200) | dd of="$LM_HOME/index.db" bs=1 seek=12288 conv=notrunc 2>/dev/null
rc=0; "$LM" verify > out.txt || rc=$?
grep -q '^index-corrupt index.db: integrity_check: ' out.txt && echo 'index-corrupt: integrity_check'
echo "exit $rc"
printf 'not a database%.0s' $(seq 10) > "$LM_HOME/index.db"
rm -f "$LM_HOME/index.db-wal" "$LM_HOME/index.db-shm"
rc=0; "$LM" verify || rc=$?
echo "exit $rc"
