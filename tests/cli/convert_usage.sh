# lm convert with a bad --outtype is a usage error (exit 2), checked before anything is read
"$LM" convert /nonexistent --outtype q4_0 -o x.gguf
