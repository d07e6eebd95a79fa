"$LM" --frob 2>&1 | head -n 1
exit 2
