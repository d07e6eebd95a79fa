// validate_cyclonedx.cjs TOOLS_DIR BOM.json: validate a BOM against the CycloneDX 1.6 JSON schema
// with CycloneDX's own JavaScript library (its bundled schema files, Ajv with formats), installed
// under TOOLS_DIR by scripts/install-test-tools. Prints "valid" or "INVALID (N errors)".
const path = require('path');
const fs = require('fs');
const CDX = require(path.join(process.argv[2], 'node_modules', '@cyclonedx', 'cyclonedx-library'));
const v = new CDX.Validation.JsonStrictValidator(CDX.Spec.Version.v1dot6);
v.validate(fs.readFileSync(process.argv[3], 'utf8')).then(errs => {
  if (errs === null) { console.log('valid'); process.exit(0); }
  for (const e of errs.slice(0, 10)) console.log('invalid:', e.instancePath, e.message);
  console.log(`INVALID (${errs.length} errors)`);
  process.exit(1);
}, e => { console.log('validator failed: ' + e); process.exit(2); });
