# cp gives a second name to the same manifest; rm frees blobs only when no model uses them;
# names compare case-insensitively; gc --dry-run lists, gc removes orphans and stale temps;
# every mutation is in the audit log
. "$LM_SRC/tests/cli/lib/store.sh"
set -e
cp -r "$LM_SRC/models/demo" demo
"$LM" import demo --as Demo:V1 > /dev/null
"$LM" cp demo:v1 library/other
"$LM" import demo --as DEMO:v1 | no_times
"$LM" list | no_times | LC_ALL=C sort   # same second or not, the order of the two may vary
"$LM" show OTHER | sed -n '2,3p'
must_fail "$LM" cp nope x 2>&1
must_fail "$LM" cp demo:v1 'bad/:x' 2>&1
rc=0; "$LM" rm nope demo:V1 2>&1 || rc=$?
echo "rm exit $rc"
[ "$(blobs)" -eq 7 ] || die "rm freed blobs another model uses"
"$LM" verify
"$LM" rm other
[ "$(blobs)" -eq 0 ] || die "rm left $(blobs) blobs"
"$LM" list
echo stray > "$LM_HOME/blobs/sha256/not-a-digest"
echo partial > "$LM_HOME/tmp/42-xyz.part"
"$LM" gc --dry-run
[ "$(blobs)" -eq 1 ] && [ "$(temps)" -eq 1 ] || die "a dry run removed something"
"$LM" gc
[ "$(blobs)" -eq 0 ] && [ "$(temps)" -eq 0 ] || die "gc left something"
"$LM" gc
"$LM" log | no_times
