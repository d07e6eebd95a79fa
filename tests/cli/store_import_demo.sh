# import the demo checkpoint directory, then list, show, verify and log it: exact outputs
. "$LM_SRC/tests/cli/lib/store.sh"
set -e
"$LM" import "$LM_SRC/models/demo"
"$LM" list | no_times
"$LM" show demo | no_times
"$LM" verify
"$LM" log | no_times
# the manifest lists every file with its digest; list --json agrees with show
"$LM" list --json | grep -c '"digest": "82efd8215c04' 
"$LM" show --json demo:latest | grep -c '"upstream_digest"'
