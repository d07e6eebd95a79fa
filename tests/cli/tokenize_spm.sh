# lm tokenize on the stories260K SentencePiece vocabulary: pieces, ids, BOS, special parsing
[ -d "$LM_MODELS/stories260K" ] || { echo "no LM_MODELS fixtures" >&2; exit 77; }
set -e
ln -s "$LM_MODELS/stories260K/ref/gguf/stories260K-F32.gguf" m.gguf
"$LM" tokenize m.gguf "Hello world <s> $(printf 'caf\303\251 \360\237\231\202\t\\')"
"$LM" tokenize --ids m.gguf "Hello world <s>"
"$LM" tokenize --ids --no-bos --no-parse-special m.gguf "Hello world <s>"
printf ' two\nlines ' | "$LM" tokenize --ids --stdin m.gguf
"$LM" tokenize --ids m.gguf -- "-x"
"$LM" tokenize --ids m.gguf ""
"$LM" tokenize --json --no-bos m.gguf "$(printf '\360\237\231\202')" | grep -A1 piece_hex
