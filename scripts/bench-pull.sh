#!/bin/sh
# bench-pull: lm pull of a generated 1 GiB repository from the mock Hub over loopback, against
# curl fetching the same files one after another to /dev/null (same server, same redirects).
# Two repositories: one large file and many small ones (1020 MiB + 64 x 64 KiB JSON configs),
# and several large files (4 x 256 MiB). lm hashes every byte (sha256, or the git blob id), writes
# and fsyncs the blobs; it runs with its store on tmpfs (the protocol and hashing cost) and on
# the disk of $BENCH_DIR (what a user sees; bound by the disk's write speed). Best of $RUNS.
set -eu
cd "$(dirname "$0")/.."
LM=${LM:-./lm}
MOCK_HF=${MOCK_HF:-build/tests/test_mock_hf}   # the mock Hub's --serve mode
RUNS=${RUNS:-2}
MIB=${BENCH_MIB:-1024}                           # repository size (a quick check: 64)
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

"$MOCK_HF" --serve bench/one "$data/one" bench/several "$data/several" \
    >"$data/endpoint" 2>"$data/server.log" &
server=$!
i=0   # the server hashes 2 GiB before it answers
while [ ! -s "$data/endpoint" ] && [ $i -lt 600 ]; do sleep 0.2; i=$((i + 1)); done
ep=$(cat "$data/endpoint")
[ -n "$ep" ] || { echo "bench-pull: the mock Hub did not start" >&2; exit 1; }
export HF_ENDPOINT="$ep" HF_HOME="$data/hf"
unset HF_TOKEN HF_HUB_OFFLINE 2>/dev/null || true

now() { date +%s.%N; }
best=""
keep_best() { best=$(echo "$1 ${best:-$1}" | awk '{ print ($1 < $2) ? $1 : $2 }'); }

bench_repo() {
    repo=$1 dir=$2
    bytes=$(cat "$dir"/* | wc -c)
    files=$(ls "$dir" | wc -l)
    echo "repo bench/$repo: $files files, $((bytes >> 20)) MiB"
    : >"$data/curl.cfg"
    for f in $(ls "$dir"); do
        printf 'url = "%s/bench/%s/resolve/main/%s"\noutput = "/dev/null"\n' "$ep" "$repo" "$f" \
            >>"$data/curl.cfg"
    done
    best=""
    r=0
    while [ $r -lt "$RUNS" ]; do
        t0=$(now)
        curl -sfL -K "$data/curl.cfg"
        keep_best "$(echo "$(now) $t0" | awk '{ print $1 - $2 }')"
        r=$((r + 1))
    done
    curl_s=$best
    printf '  %-44s %7.2f s  %6.0f MB/s\n' "curl, one file after another -> /dev/null" "$curl_s" \
        "$(echo "$bytes $curl_s" | awk '{ print $1 / $2 / 1e6 }')"
    for where in tmpfs disk; do
        base=$data
        [ $where = disk ] && base=$ondisk
        best=""
        r=0
        while [ $r -lt "$RUNS" ]; do
            rm -rf "$base/home"
            t0=$(now)
            LM_HOME="$base/home" "$LM" --quiet pull "hf.co/bench/$repo" >/dev/null
            keep_best "$(echo "$(now) $t0" | awk '{ print $1 - $2 }')"
            r=$((r + 1))
        done
        LM_HOME="$base/home" "$LM" verify >/dev/null
        rm -rf "$base/home"
        printf '  %-44s %7.2f s  %6.0f MB/s  %.2f x curl\n' "lm pull, store on $where (verify, fsync)" \
            "$best" "$(echo "$bytes $best" | awk '{ print $1 / $2 / 1e6 }')" \
            "$(echo "$best $curl_s" | awk '{ print $1 / $2 }')"
    done
}

echo "loopback, mock Hub from $MOCK_HF (LFS files through its second 'CDN' port)"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
bench_repo one "$data/one"
bench_repo several "$data/several"
