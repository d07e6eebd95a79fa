# editing the audit log is detected: triggers refuse UPDATE and DELETE; with them dropped, a
# changed row, a row whose hash was recomputed, and a deleted row each make `lm log` and
# `lm verify` report log-chain-broken and exit 1
. "$LM_SRC/tests/cli/lib/store.sh"
command -v sqlite3 > /dev/null || { echo "no sqlite3 command" >&2; exit 77; }
set -e
cp -r "$LM_SRC/models/demo" demo
"$LM" import demo > /dev/null
"$LM" cp demo other > /dev/null
"$LM" rm other > /dev/null
"$LM" log > /dev/null
db=$LM_HOME/index.db
must_fail sqlite3 "$db" "UPDATE audit_log SET user = 'mallory' WHERE seq = 1" 2>&1 | grep -c append-only
must_fail sqlite3 "$db" "DELETE FROM audit_log WHERE seq = 2" 2>&1 | grep -c append-only
sqlite3 "$db" "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete"
cp "$db" clean.db
hashes() { sed 's/[0-9a-f]\{12\}/HASH/g'; }   # entries hash their times
check() {
    echo "-- $1"
    rc=0; "$LM" log > log.txt || rc=$?
    tail -n 1 log.txt | hashes; echo "log exit $rc"
    rc=0; "$LM" verify > verify.txt || rc=$?
    grep '^log-chain-broken' verify.txt | hashes; echo "verify exit $rc"
    cp clean.db "$db"; rm -f "$db-wal" "$db-shm"
}
sqlite3 "$db" "UPDATE audit_log SET user = 'mallory' WHERE seq = 1"
check "a changed row"
sqlite3 "$db" "UPDATE audit_log SET prev = (SELECT hash FROM audit_log WHERE seq = 3) WHERE seq = 2"
check "a row chained to the wrong entry"
sqlite3 "$db" "DELETE FROM audit_log WHERE seq = 2"
check "a deleted row"
"$LM" log | tail -n 1
