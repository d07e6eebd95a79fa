"$LM" inspect no-such-file.gguf
