# lm --version and lm version print the same line
"$LM" --version
"$LM" version
