# lib-checkpoint.sh, sourced by bench-bundle.sh and bench-verify.sh (not a bench itself): write a
# checkpoint of SHARDS safetensors files holding GIB GiB, one U8 tensor each, into DIR.
#   bench_checkpoint DIR GIB SHARDS random   every shard pseudo-random bytes (AES-CTR of zeros:
#                                            fast, incompressible, nothing a hash can shortcut)
#   bench_checkpoint DIR GIB SHARDS mixed    odd shards random, even ones a zero byte before each
#                                            random byte, which zstd shrinks by about half (a
#                                            stand-in for f16/bf16 tensors, whose exponents compress)
bench_checkpoint() {
    dir=$1 per=$(($2 * 1024 * 1024 * 1024 / $3)) shards=$3 mode=$4
    mkdir -p "$dir"
    echo '{"architectures": ["Bench"], "model_type": "bench"}' > "$dir/config.json"
    map=
    i=1
    while [ $i -le "$shards" ]; do
        f=$(printf 'model-%05d-of-%05d.safetensors' $i "$shards")
        hdr=$(printf '{"w%d":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}' $i $per $per)
        while [ $(( ${#hdr} % 8 )) -ne 0 ]; do hdr="$hdr "; done
        { printf "$(printf '\\%03o' $(( ${#hdr} & 255 )) $(( (${#hdr} >> 8) & 255 )) 0 0 0 0 0 0)"
          printf '%s' "$hdr"
          if [ "$mode" = random ] || [ $((i % 2)) -eq 1 ]; then
              head -c "$per" /dev/zero | openssl enc -aes-128-ctr -nosalt -pass pass:lm-bench$i \
                  2>/dev/null
          else
              head -c $((per / 2)) /dev/zero | openssl enc -aes-128-ctr -nosalt \
                  -pass pass:lm-bench$i 2>/dev/null | perl -e 'binmode STDIN; binmode STDOUT;
                      while (read(STDIN, $b, 1 << 20)) { print pack("n*", unpack("C*", $b)) }'
          fi
        } > "$dir/$f"
        map="$map${map:+,}\"w$i\":\"$f\""
        i=$((i + 1))
    done
    echo "{\"metadata\":{},\"weight_map\":{$map}}" > "$dir/model.safetensors.index.json"
}
