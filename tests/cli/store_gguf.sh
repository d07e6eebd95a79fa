# import GGUF files: architecture, parameters, context length and quantization come from the
# GGUF metadata; a GGUF inside a directory is a model too
. "$LM_SRC/tests/cli/lib/store.sh"
need_model stories260K
need_model tiny-llama-256
set -e
"$LM" import "$LM_MODELS/stories260K/ref/gguf/stories260K-Q8_0-convert.gguf"
"$LM" import "$LM_MODELS/tiny-llama-256/ref/gguf/tiny-llama-256-Q4_K_M.gguf" --as hf.co/me/tiny:Q4_K_M
"$LM" show stories260K-Q8_0-convert | no_times
"$LM" show hf.co/me/tiny:q4_k_m | no_times
"$LM" list --json | no_times
