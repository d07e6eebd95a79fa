# lm convert writes what llama.cpp's converter writes, byte for byte (hashes from the fixtures'
# ref/gguf-index.tsv): stories260K as Q8_0, then with the defaults (auto -> F16, named after the
# folder), a sharded BF16 checkpoint, and Qwen2.5's byte-level BPE vocabulary.
[ -d "$LM_MODELS/tiny-qwen2-bpe" ] || { echo "no fixtures in $LM_MODELS" >&2; exit 77; }
set -e
"$LM" convert "$LM_MODELS/stories260K" --outtype q8_0 -o q8.gguf
"$LM" --quiet convert "$LM_MODELS/stories260K/"
"$LM" convert "$LM_MODELS/tiny-llama-256" --outtype=BF16 -o llama.gguf
"$LM" convert "$LM_MODELS/tiny-qwen2-bpe" --outtype f16 -o bpe.gguf
sha256sum q8.gguf stories260K-F16.gguf llama.gguf bpe.gguf
ls *.gguf
