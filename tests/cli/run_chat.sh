# lm run on a byte-level BPE model with a chat template (tiny-qwen2-bpe, converted here): --raw
# gives llama.cpp's greedy text for the bare prompt; without --raw the prompt becomes one user
# turn of the model's template (Qwen2.5's, llama.cpp's chatml formatter), special tokens parsed:
# "Hello" is then 9 tokens, <|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n.
[ -d "$LM_MODELS/tiny-qwen2-bpe" ] || { echo "no fixtures in $LM_MODELS" >&2; exit 77; }
set -e
"$LM" --quiet convert "$LM_MODELS/tiny-qwen2-bpe" --outtype f32 -o bpe.gguf >/dev/null
"$LM" run --raw --temperature 0 -n 64 bpe.gguf "Once upon a time"
"$LM" run --raw --verbose --temperature 0 -n 1 bpe.gguf "Hello" 2>&1 >/dev/null | grep '^prompt eval count'
"$LM" run --verbose --temperature 0 -n 1 bpe.gguf "Hello" 2>&1 >/dev/null | grep '^prompt eval count'
