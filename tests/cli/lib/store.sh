# lib/store.sh: helpers the store_*.sh CLI tests source (not a test itself: run.sh only runs
# tests/cli/*.sh). Each test runs in a fresh directory with a fresh $LM_HOME.

die() { echo "$*" >&2; exit 1; }

# Physical paths: lm records resolved paths, and outputs are compared with these taken out.
LM_MODELS=$(cd "$LM_MODELS" 2>/dev/null && pwd -P || echo "$LM_MODELS")
LM_SRC=$(cd "$LM_SRC" && pwd -P)
cd "$(pwd -P)"

# A crash is never an accepted failure: exit 1..128 only.
must_fail() { rc=0; "$@" || rc=$?; [ $rc -ne 0 ] && [ $rc -le 128 ]; }

need_model() {
    [ -d "$LM_MODELS/$1" ] || { echo "fixture $LM_MODELS/$1 not found" >&2; exit 77; }
}

# Copy a fixture's model files (not its ref/ outputs or README) into directory $2.
copy_model() {
    mkdir -p "$2"
    for f in "$LM_MODELS/$1"/*; do
        case ${f##*/} in ref|llama2c|README.md) continue ;; esac
        cp "$f" "$2/"
    done
}

blobs() { ls "$LM_HOME/blobs/sha256" | wc -l | tr -d ' '; }
temps() { ls -A "$LM_HOME/tmp" | wc -l | tr -d ' '; }

# Every file in blobs/ hashes to its name: no partial or wrong file is visible as a blob.
blobs_named_by_content() {
    for f in "$LM_HOME"/blobs/sha256/*; do
        [ -e "$f" ] || continue
        h=$(sha256sum < "$f" | cut -c1-64)
        [ "$h" = "${f##*/}" ] || die "blob ${f##*/} holds bytes hashing to $h"
    done
}

# Blob path of a model's file: blob_of NAME PATH
blob_of() {
    d=$("$LM" show --json "$1" | sed -n "/\"path\": \"$2\"/{n;s/.*sha256:\([0-9a-f]*\)\".*/\1/p;}" | head -n 1)
    [ -n "$d" ] || die "no file $2 in $1"
    echo "$LM_HOME/blobs/sha256/$d"
}

# The MODIFIED column and times depend on the clock; the rest must match exactly.
no_times() {
    sed -e 's/[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9:]*Z/TIME/g' \
        -e 's/\(Less than a second\|[0-9]* seconds\|1 second\|About a minute\) ago/AGO/' \
        -e "s|$LM_SRC|LM_SRC|g" -e "s|$LM_MODELS|LM_MODELS|g" -e "s|$PWD|PWD|g" -e "s/  $(id -un)  /  USER  /"
}

# Move $LM_HOME to a tmpfs when there is one: a process kill leaves the same state there, and
# fsync costs nothing, which keeps the many-run tests fast. Removed when the test ends.
home_on_tmpfs() {
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        LM_HOME=$(mktemp -d /dev/shm/lm-test.XXXXXX)
        export LM_HOME
        trap 'rm -rf "$LM_HOME"' EXIT INT TERM
    fi
}
