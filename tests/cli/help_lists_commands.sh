# lm help lists every command of the table, and each command's --help works and exits 0
set -e
"$LM" help > help.txt
grep -q '^usage: lm ' help.txt
for c in $(sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p' help.txt); do
    "$LM" "$c" --help > /dev/null || { echo "lm $c --help failed"; exit 1; }
    "$LM" help "$c" > /dev/null || { echo "lm help $c failed"; exit 1; }
done
echo ok
