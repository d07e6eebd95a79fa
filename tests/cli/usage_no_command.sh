# no command: usage on stderr, exit 2
"$LM" 2>/dev/null
