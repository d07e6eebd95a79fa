#!/bin/sh
# run.sh BUILD LABEL COUNTS: run every cmocka test, CLI test and fuzz-corpus replay of one build,
# print failures and a per-build summary, and append "passed failed skipped" to COUNTS.
set -u
build=$1; label=$2; counts=$3
root=$(pwd)
export LM_BIN="$root/$build/lm"
export LM_SRC="$root"
export LM_MODELS="${LM_MODELS:-$root/../shared/models}"
export LM_SHARED="${LM_SHARED:-$root/../shared}"
export LM_TEST_BUILD="$label"
pass=0; fail=0; skip=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lm-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    out="$tmp/$name.out"
    rc=0
    (cd "$tmp" && HOME="$tmp/home" CMOCKA_MESSAGE_OUTPUT=TAP "$root/$t") >"$out" 2>&1 || rc=$?
    # cmocka's TAP marks a skip as "not ok N # SKIP"; count skips apart from both.
    s=$(grep -c '^\(not \)\{0,1\}ok .*# [Ss][Kk][Ii][Pp]' "$out" | tr -d ' ')
    p=$(grep -v '# [Ss][Kk][Ii][Pp]' "$out" | grep -c '^ok ' | tr -d ' ')
    f=$(grep -v '# [Ss][Kk][Ii][Pp]' "$out" | grep -c '^not ok [0-9]' | tr -d ' ')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # a crash is never a pass
    if [ "$f" -gt 0 ]; then
        echo "FAIL [$label] $name (exit $rc)"
        grep -v '^ok \|# [Ss][Kk][Ii][Pp]' "$out" | head -40 | sed 's/^/    /'
    fi
    if [ "$s" -gt 0 ]; then
        grep '# [Ss][Kk][Ii][Pp]' "$out" | sed "s/^/    [$label] $name: /" | head -5
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done

for t in tests/cli/*.sh; do
    [ -f "$t" ] || continue
    base=${t%.sh}; name=$(basename "$base")
    want_exit=0
    [ -f "$base.exit" ] && want_exit=$(cat "$base.exit")
    work="$tmp/cli-$name"; mkdir -p "$work"
    rc=0
    (cd "$work" && HOME="$work" LM_HOME="$work/lm-home" LM="$LM_BIN" sh "$root/$t") \
        >"$work/stdout" 2>"$work/stderr" </dev/null || rc=$?
    ok=1; why=""
    if [ "$rc" -eq 77 ]; then
        skip=$((skip + 1)); echo "    [$label] cli/$name: skipped: $(tail -n 1 "$work/stderr")"; continue
    fi
    [ "$rc" -eq "$want_exit" ] || { ok=0; why="exit $rc, want $want_exit"; }
    if [ -f "$base.stdout.exact" ] && ! cmp -s "$base.stdout.exact" "$work/stdout"; then
        ok=0; why="$why stdout differs"; fi
    if [ -f "$base.stderr.exact" ] && ! cmp -s "$base.stderr.exact" "$work/stderr"; then
        ok=0; why="$why stderr differs"; fi
    if [ $ok -eq 1 ]; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL [$label] cli/$name: $why"
        [ -f "$base.stdout.exact" ] && diff "$base.stdout.exact" "$work/stdout" | head -20 | sed 's/^/    /'
        [ -f "$base.stderr.exact" ] && diff "$base.stderr.exact" "$work/stderr" | head -20 | sed 's/^/    /'
        tail -n 20 "$work/stderr" | sed 's/^/    stderr: /'
    fi
done

for r in "$build"/fuzz/replay_*; do
    [ -x "$r" ] || continue
    target=${r##*/replay_}
    rc=0
    "$r" fuzz/corpus/"$target" >"$tmp/replay.out" 2>&1 || rc=$?
    if [ $rc -eq 0 ]; then pass=$((pass + 1)); else
        fail=$((fail + 1)); echo "FAIL [$label] fuzz corpus replay $target"; tail -n 30 "$tmp/replay.out" | sed 's/^/    /'; fi
done

echo "$label: $pass passed, $fail failed, $skip skipped"
echo "$pass $fail $skip" >>"$counts"
