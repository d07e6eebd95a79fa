# export three models (two share six blobs, one is derived) and import them into a fresh store:
# each blob once in the bundle and in the store, verify clean, show gives the source's
# provenance and derivations plus one `bundle` record; stdin, plain tar and gzip bundles; errors
. "$LM_SRC/tests/cli/lib/store.sh"
set -e
dst=$PWD/dst
"$LM" import "$LM_SRC/models/demo" --as demo > /dev/null
mkdir m2; cp "$LM_SRC"/models/demo/* m2/; chmod -R u+w m2; echo "# the demo model, again" > m2/README.md
"$LM" import m2 --as demo2 > /dev/null
"$LM" convert demo --outtype f32 > /dev/null
# the compressed size moves with the time in the manifest: not compared
size() { sed 's/: [0-9.]* [KM]*i*B$/: SIZE/'; }
"$LM" export demo demo2 demo:f32 -o b.tar.zst | size
echo "entries: $(tar -tf b.tar.zst | wc -l), twice: $(tar -tf b.tar.zst | sort | uniq -d | wc -l)"
LM_HOME=$dst "$LM" import b.tar.zst
echo "blobs in the new store: $(ls "$dst/blobs/sha256" | wc -l)"
LM_HOME=$dst "$LM" verify
for m in demo demo2 demo:f32; do
    "$LM" show $m > a.txt
    LM_HOME=$dst "$LM" show $m > b.txt
    echo "== show $m: what the import added"
    diff a.txt b.txt | no_times | sed 's/commit  *[0-9a-f]*$/commit BUNDLE_SHA256/' || true
done
# stdin, a plain tar, gzip
"$LM" export demo -o - 2> err.txt | LM_HOME=$PWD/d2 "$LM" import -
size < err.txt
LM_HOME=$PWD/d2 "$LM" show demo | grep -A1 'source  *bundle' | sed 's/[0-9a-f]\{64\}/SHA256/'
"$LM" export demo2 -o p.tar
echo "plain tar: $(tar -tf p.tar | head -n 1)"
gzip -k p.tar
LM_HOME=$PWD/d3 "$LM" import p.tar.gz | tail -n 1
# one model named twice is exported once
"$LM" export demo registry.ollama.ai/library/demo:latest -o dd.tar
# refusals
must_fail "$LM" export nosuch -o x.tar.zst 2> err.txt; cat err.txt; [ ! -e x.tar.zst ]
must_fail "$LM" export demo 2> /dev/null; echo "no -o: exit $rc"
must_fail "$LM" import b.tar.zst --as x 2> /dev/null; echo "--as with a bundle: exit $rc"
must_fail "$LM" import missing.tar.zst 2> err.txt; cat err.txt
# a damaged blob fails the export (before the far side sees it), and no bundle file is left
b=$(blob_of demo model.safetensors)
chmod u+w "$b"
printf 'X' | dd of="$b" bs=1 seek=100 conv=notrunc 2> /dev/null
must_fail "$LM" export demo -o bad.tar.zst 2> err.txt
sed -e "s|$LM_HOME|LM_HOME|" -e 's/hash to [0-9a-f]*/hash to HASH/' err.txt
echo "files named bad*: $(ls -A | grep -c '^bad' || true)"
