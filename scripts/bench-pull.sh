#!/bin/sh
# bench-pull: lm pull of a generated 1 GiB repository from the mock Hub over loopback, against
# curl fetching the same files one after another to /dev/null (same server, same redirects).
# Two repositories: one large file and many small ones (1020 MiB + 64 x 64 KiB JSON configs),
# and several large files (4 x 256 MiB). lm hashes every byte (sha256, or the git blob id), writes
# and fsyncs the blobs; it runs with its store on tmpfs (the protocol and hashing cost) and on
# the disk of $BENCH_DIR (what a user sees; bound by the disk's write speed). Best of $RUNS.
# Two links: raw loopback, where the CPUs are the limit (the line "sha256 floor" is the time one
# SHA-256 stream per large file needs, on at most as many CPUs as there are, with nothing else
# running), and loopback with every connection capped at $BENCH_CONN_RATE bytes/s (100 MB/s;
# 0 skips it), as Hub and CDN downloads are capped per connection. "cpu" is the process's user +
# system time (/usr/bin/time), the mock server's not included.
set -eu
cd "$(dirname "$0")/.."
LM=${LM:-./lm}
MOCK_HF=${MOCK_HF:-build/tests/test_mock_hf}   # the mock Hub's --serve mode
RUNS=${RUNS:-2}
MIB=${BENCH_MIB:-1024}                           # repository size (a quick check: 64)
CONN_RATE=${BENCH_CONN_RATE:-100000000}
[ -x "$LM" ] || make lm >/dev/null
[ -x "$MOCK_HF" ] || make "$MOCK_HF" >/dev/null
command -v curl >/dev/null || { echo "bench-pull: curl not found, skipped"; exit 0; }
shm=${SHM:-/dev/shm}
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
disk=${BENCH_DIR:-${TMPDIR:-/tmp}}
data=$(mktemp -d "$shm/lm-bench-pull.XXXXXX")
ondisk=$(mktemp -d "$disk/lm-bench-pull-disk.XXXXXX")
server=""
cleanup() {
    set +e
    if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; fi
    rm -rf "$data" "$ondisk"
}
trap cleanup EXIT INT TERM

# A valid safetensors file of one U8 tensor of $2 bytes of random data.
safetensors() {
    n=$2
    hdr="{\"w\":{\"dtype\":\"U8\",\"shape\":[$n],\"data_offsets\":[0,$n]}}"
    while [ $(( ${#hdr} % 8 )) -ne 0 ]; do hdr="$hdr "; done
    len=${#hdr}
    # the 8-byte little-endian header length
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((len & 255)) $((len >> 8 & 255)) 0 0)" >"$1"
    printf '\000\000\000\000' >>"$1"
    printf '%s' "$hdr" >>"$1"
    head -c "$n" /dev/urandom >>"$1"
}

mkdir -p "$data/one" "$data/several"
safetensors "$data/one/model.safetensors" $(((MIB - 4) << 20))
i=0
while [ $i -lt 64 ]; do
    { printf '{"pad": "'; head -c 32762 /dev/urandom | od -An -v -tx1 | tr -d ' \n'; printf '"}\n'; } \
        >"$data/one/config-$(printf %03d $i).json"
    i=$((i + 1))
done
for k in 1 2 3 4; do
    safetensors "$data/several/model-0000$k-of-00004.safetensors" $((MIB / 4 << 20))
done
echo '{"metadata": {}, "weight_map": {}}' >"$data/several/model.safetensors.index.json"

# One SHA-256 stream's speed in bytes/s (openssl speed prints 1000s of bytes per second).
sha_rate=$(openssl speed -seconds 1 -bytes 16384 -evp sha256 2>/dev/null |
           awk '$1 == "sha256" { sub(/k$/, "", $2); print $2 * 1000 }')
export HF_HOME="$data/hf"
unset HF_TOKEN HF_HUB_OFFLINE 2>/dev/null || true

# start_server [RATE]: the mock Hub serving both repositories, each connection capped at RATE.
start_server() {
    rm -f "$data/endpoint"
    "$MOCK_HF" --serve ${1:+--conn-rate "$1"} bench/one "$data/one" bench/several "$data/several" \
        >"$data/endpoint" 2>"$data/server.log" &
    server=$!
    i=0   # the server hashes 2 GiB before it answers
    while [ ! -s "$data/endpoint" ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
    ep=$(cat "$data/endpoint")
    [ -n "$ep" ] || { echo "bench-pull: the mock Hub did not start" >&2; exit 1; }
    export HF_ENDPOINT="$ep"
}

stop_server() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
}

now() { date +%s.%N; }
# timed CMD...: run it; keep its wall time and CPU time (user + sys) if it is the fastest yet.
best="" best_cpu=""
timed() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%e %U %S' -o "$data/time" "$@"
        set -- $(tail -n 1 "$data/time")
        t=$1 cpu=$(echo "$2 $3" | awk '{ print $1 + $2 }')
    else
        t0=$(now)
        "$@"
        t=$(echo "$(now) $t0" | awk '{ print $1 - $2 }') cpu=""
    fi
    if [ -z "$best" ] || [ "$(echo "$t $best" | awk '{ print ($1 < $2) }')" = 1 ]; then
        best=$t best_cpu=$cpu
    fi
}
cpu_note() { [ -n "$best_cpu" ] && printf '  cpu %.2f s' "$best_cpu"; }

# bench_repo REPO DIR FLOOR: FLOOR=1 prints the SHA-256 floor.
bench_repo() {
    repo=$1 dir=$2 floor=$3
    bytes=$(cat "$dir"/* | wc -c)
    files=$(ls "$dir" | wc -l)
    echo "repo bench/$repo: $files files, $((bytes >> 20)) MiB"
    if [ "$floor" = 1 ] && [ -n "$sha_rate" ]; then
        large=$(find "$dir" -type f -size +10M | wc -l)
        streams=$(( large < $(nproc) ? large : $(nproc) ))
        [ "$streams" -ge 1 ] || streams=1
        printf '  %-44s %7.2f s  %6.0f MB/s  (%d stream(s) of %.0f MB/s)\n' "sha256 floor" \
            "$(echo "$bytes $sha_rate $streams" | awk '{ print $1 / $2 / $3 }')" \
            "$(echo "$sha_rate $streams" | awk '{ print $1 * $2 / 1e6 }')" "$streams" \
            "$(echo "$sha_rate" | awk '{ print $1 / 1e6 }')"
    fi
    : >"$data/curl.cfg"
    for f in $(ls "$dir"); do
        printf 'url = "%s/bench/%s/resolve/main/%s"\noutput = "/dev/null"\n' "$ep" "$repo" "$f" \
            >>"$data/curl.cfg"
    done
    best=""
    r=0
    while [ $r -lt "$RUNS" ]; do
        timed curl -sfL -K "$data/curl.cfg"
        r=$((r + 1))
    done
    curl_s=$best
    printf '  %-44s %7.2f s  %6.0f MB/s              %s\n' \
        "curl, one file after another -> /dev/null" "$curl_s" \
        "$(echo "$bytes $curl_s" | awk '{ print $1 / $2 / 1e6 }')" "$(cpu_note)"
    for where in tmpfs disk; do
        base=$data
        [ $where = disk ] && base=$ondisk
        best=""
        r=0
        while [ $r -lt "$RUNS" ]; do
            rm -rf "$base/home"
            LM_HOME="$base/home" timed "$LM" --quiet pull "hf.co/bench/$repo" >/dev/null
            r=$((r + 1))
        done
        LM_HOME="$base/home" "$LM" verify >/dev/null
        rm -rf "$base/home"
        printf '  %-44s %7.2f s  %6.0f MB/s  %5.2f x curl%s\n' \
            "lm pull, store on $where (verify, fsync)" "$best" \
            "$(echo "$bytes $best" | awk '{ print $1 / $2 / 1e6 }')" \
            "$(echo "$best $curl_s" | awk '{ print $1 / $2 }')" "$(cpu_note)"
    done
}

echo "loopback, mock Hub from $MOCK_HF (LFS files through its second 'CDN' port)"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== raw loopback (sendfile; the CPUs are the limit)"
start_server
bench_repo one "$data/one" 1
bench_repo several "$data/several" 1
stop_server
if [ "$CONN_RATE" -gt 0 ]; then
    echo "== each connection capped at $CONN_RATE bytes/s (as Hub and CDN links are)"
    start_server "$CONN_RATE"
    bench_repo one "$data/one" 0
    bench_repo several "$data/several" 0
    stop_server
fi
