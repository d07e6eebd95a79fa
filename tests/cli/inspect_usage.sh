"$LM" inspect 2>/dev/null
