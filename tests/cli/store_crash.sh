# SIGKILL `lm import` of a multi-file model at each of its write, fsync, rename and commit steps
# (LM_FAULT_AT=N, at least 50 of them). After each kill: the index passes integrity_check,
# lm verify passes, every file in blobs/ hashes to its name, lm gc empties tmp/, and the
# import run again completes.
. "$LM_SRC/tests/cli/lib/store.sh"
need_model tiny-llama-256
set -e
copy_model tiny-llama-256 m
home_on_tmpfs
have_sqlite=0
command -v sqlite3 > /dev/null && have_sqlite=1
n=1
while :; do
    rm -rf "$LM_HOME"
    rc=0
    LM_FAULT_AT=$n "$LM" import m --as crash > out.txt 2>&1 || rc=$?
    [ $rc -eq 0 ] && break
    [ $rc -eq 137 ] || { cat out.txt; die "point $n: exit $rc, want 137 (SIGKILL)"; }
    if [ $have_sqlite -eq 1 ] && [ -f "$LM_HOME/index.db" ]; then
        ok=$(sqlite3 "$LM_HOME/index.db" 'PRAGMA integrity_check')
        [ "$ok" = ok ] || die "point $n: integrity_check says $ok"
    fi
    "$LM" verify > verify.txt || { cat verify.txt; die "point $n: lm verify failed"; }
    blobs_named_by_content
    "$LM" gc > /dev/null || die "point $n: lm gc failed"
    [ "$(temps)" -eq 0 ] || die "point $n: lm gc left tmp/ with $(temps) files"
    "$LM" import m --as crash > /dev/null || die "point $n: import after the crash failed"
    "$LM" verify > verify.txt || { cat verify.txt; die "point $n: lm verify failed after re-import"; }
    grep -q 'orphan-blob\|stale-temp' verify.txt && die "point $n: leftovers after gc and re-import"
    [ "$(blobs)" -eq 8 ] || die "point $n: $(blobs) blobs, want 8"
    n=$((n + 1))
done
killed=$((n - 1))
[ $killed -ge 50 ] || die "only $killed fault points"
echo "killed at $killed points, all recovered"
