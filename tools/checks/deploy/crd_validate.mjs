// Custom resources against the @kubernetes-models packages of tools/package.json (ArgoCD, Argo
// Rollouts, External Secrets, prometheus-operator, Traefik), run by schemas.py:
//
//   node crd_validate.mjs RESOURCES.json WORK_DIR
//
// RESOURCES.json is a list of {label, doc}. Prints the findings as a JSON list of {label, message}:
// a kind no package models, and what each pass finds. Two passes, because the generated JSON schemas of the packages let unknown
// fields through: a misspelled optional field (`stepz:`, `syncPolicy.automated.selfHael`) would pass
// validate() and be ignored by the operator in silence. So after `new Kind(doc).validate()` (types,
// required fields, enums, formats) every resource is written out as a TypeScript object literal that
// `satisfies` the package's interface, and tsc's excess-property check names every unknown field.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [resourcesFile, workDir] = process.argv.slice(2);
const modules = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'node_modules');
const packages = fs.readdirSync(path.join(modules, '@kubernetes-models'))
  .filter((name) => !['apimachinery', 'base', 'validate'].includes(name))
  .map((name) => `@kubernetes-models/${name}`);

// The model class of apiVersion/kind in the first package that exports one (argo-cd and
// argo-rollouts share argoproj.io/v1alpha1).
async function lookup(apiVersion, kind) {
  const parts = apiVersion.includes('/') ? apiVersion.split('/') : [apiVersion];
  for (const pkg of packages) {
    const file = path.join(modules, pkg, ...parts, 'index.js');
    if (!fs.existsSync(file)) continue;
    const Model = Object.values(await import(pathToFileURL(file).href))
      .find((v) => typeof v === 'function' && v.apiVersion === apiVersion && v.kind === kind);
    if (Model) return { pkg, Model };
  }
  return null;
}

// A JSON rendering of `value`, one property or element a line, that remembers each line's field
// path, so a tsc error at a line can be named by the field it is about.
function render(value, indent, at, out) {
  if (!(value && typeof value === 'object')) return JSON.stringify(value);
  const isArray = Array.isArray(value);
  const keys = isArray ? value.map((_, i) => i) : Object.keys(value);
  if (keys.length === 0) return isArray ? '[]' : '{}';
  const pad = '  '.repeat(indent);
  const lines = keys.map((k) => {
    const child = isArray ? `${at}[${k}]` : (at ? `${at}.${k}` : k);
    const line = out.lines.push('') - 1;
    out.paths[line] = child;
    out.lines[line] = `${pad}  ${isArray ? '' : `${JSON.stringify(k)}: `}${render(value[k], indent + 1, child, out)}`;
    return out.lines.length - 1; // the child's last line, where its comma goes
  });
  lines.slice(0, -1).forEach((line) => { out.lines[line] += ','; });
  out.paths[out.lines.push(`${pad}${isArray ? ']' : '}'}`) - 1] = at;
  return isArray ? '[' : '{';
}

const findings = [];
const typed = [];
for (const { label, doc } of JSON.parse(fs.readFileSync(resourcesFile, 'utf8'))) {
  const found = await lookup(doc.apiVersion, doc.kind);
  if (!found) {
    findings.push({ label, message: `unknown custom kind: no CRD model for ${doc.apiVersion} ${doc.kind} ` +
      '(add its @kubernetes-models package, or a schema to crds/)' });
    continue;
  }
  let failed = false;
  try {
    new found.Model(doc).validate();
  } catch (error) {
    const errors = (error.errors || []).map((e) => `${e.instancePath || '/'} ${e.message}` +
      (e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''));
    findings.push(...(errors.length ? errors : [error.message]).map((e) => ({ label, message: `does not match its schema: ${e}` })));
    failed = true;
  }
  typed.push({ label, pkg: found.pkg, doc, failed });
}

// The strict pass: one TypeScript file, one `satisfies` per resource.
const placed = findings.length;
if (typed.length) {
  const dir = path.join(workDir, 'crd-strict');
  fs.mkdirSync(dir, { recursive: true });
  fs.symlinkSync(modules, path.join(dir, 'node_modules'));
  const lines = typed.map((t, i) => `import type { I${t.doc.kind} as T${i} } from ` +
    `${JSON.stringify(`${t.pkg}/${t.doc.apiVersion}/${t.doc.kind}`)};`);
  const owner = [];
  typed.forEach((item, i) => {
    const out = { lines: [''], paths: { 0: '' } };
    out.lines[0] = `export const d${i} = ${render(item.doc, 0, '', out)}`;
    out.lines[out.lines.length - 1] += ` satisfies T${i};`;
    out.lines.forEach((text, j) => { owner[lines.length + j + 1] = { item, path: out.paths[j] ?? '' }; });
    lines.push(...out.lines);
  });
  fs.writeFileSync(path.join(dir, 'resources.ts'), `${lines.join('\n')}\n`);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler',
      skipLibCheck: true, types: [] },
    files: ['resources.ts'],
  }));
  const tsc = spawnSync(process.execPath, [path.join(modules, 'typescript', 'bin', 'tsc'), '-p', '.', '--pretty', 'false'],
    { cwd: dir, encoding: 'utf8' });
  for (const text of `${tsc.stdout}${tsc.stderr}`.split('\n')) {
    const match = /^resources\.ts\((\d+),\d+\): error (TS\d+): (.*)$/.exec(text);
    const at = match && owner[Number(match[1])];
    const unknownField = match && ['TS2353', 'TS2561'].includes(match[2]);
    // A type error validate() already reported for the same resource is not said twice.
    if (!match || (!unknownField && at?.item.failed)) continue;
    findings.push({ label: at?.item.label ?? 'resources.ts',
      message: `${unknownField ? 'unknown field' : 'type error'}: ${match[3]} (at ${at?.path || '?'})` });
  }
  if (tsc.status !== 0 && findings.length === placed && !typed.some((t) => t.failed)) {
    findings.push({ label: 'tsc', message: `exited ${tsc.status} with nothing to place: ${tsc.stdout} (at -)` });
  }
}
console.log(JSON.stringify(findings));
