# validate_cyclonedx.py SCHEMA_DIR BOM.json: validate a BOM against the CycloneDX 1.6 JSON schema
# (bom-1.6.schema.json with spdx.schema.json and jsf-0.82.schema.json beside it, from
# github.com/CycloneDX/specification schema/) with the jsonschema package, formats checked.
import json, os, sys
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
d = sys.argv[1]
res = []
for f in ("bom-1.6.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"):
    s = json.load(open(os.path.join(d, f)))
    res.append(("http://cyclonedx.org/schema/" + f, Resource.from_contents(s, default_specification=DRAFT7)))
reg = Registry().with_resources(res)
schema = json.load(open(os.path.join(d, "bom-1.6.schema.json")))
v = Draft7Validator(schema, registry=reg, format_checker=Draft7Validator.FORMAT_CHECKER)
doc = json.load(open(sys.argv[2]))
errs = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
for e in errs[:10]:
    print("invalid:", "/".join(map(str, e.absolute_path)), e.message[:200])
print("valid" if not errs else "INVALID (%d errors)" % len(errs))
sys.exit(1 if errs else 0)
