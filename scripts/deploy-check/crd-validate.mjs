// Stage 3 of scripts/check-deploy.sh: custom resources against their CRD schemas.
//
//   node crd-validate.mjs TOOLS_DIR RENDERED_DIR ALLOWLIST WORK_DIR CRDS_DIR
//
// TOOLS_DIR holds node_modules with kubernetes-models and the @kubernetes-models packages of the
// operators this repository uses (ArgoCD, Argo Rollouts, External Secrets, ...), js-yaml and
// typescript, installed by scripts/check-deploy.sh at pinned versions. For every document of every
// rendered root (RENDERED_DIR/*.yaml, with *.origins.json naming the file each came from):
//   * a built-in Kubernetes kind (one kubernetes-models knows) is left to kubernetes-validate;
//   * a custom kind one of the packages knows is validated with `new Kind(doc).validate()` (the JSON
//     schema generated from the operator's Go types: field types, required fields, enums, formats);
//   * a custom kind with a schema in CRDS_DIR (*.yaml: apiVersion, kind, schema: a JSON schema written
//     from the operator's CRD, for operators without a package) is validated with it, strictly:
//     objects with `properties` take no other field unless x-kubernetes-preserve-unknown-fields;
//     the fields its `yamlStrings` names must hold a YAML mapping (e.g. Helm values);
//   * any other kind fails, unless ALLOWLIST (YAML: a list of {apiVersion, kind, reason}) names it with
//     a reason: nothing custom goes unvalidated without someone saying why.
// Then a strict pass over the same custom resources: each is written out as a TypeScript object
// literal `satisfies` the package's interface and type-checked with `tsc --noEmit`; TypeScript's
// excess-property check reports every field the operator does not know, at any depth (the JSON
// schemas allow unknown fields, so a misspelled optional field such as `stepz:` or
// `syncPolicy.automated.selfHael` passes validate() and is silently ignored by the operator).
// Exit status 1 on any finding.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const [toolsDir, renderedDir, allowlistFile, workDir, crdsDir] = process.argv.slice(2);
const modules = path.join(toolsDir, 'node_modules');
const { default: jsyaml } = await import(pathToFileURL(path.join(modules, 'js-yaml', 'index.js')).href);
const requireTool = createRequire(path.join(modules, 'package.json'));
const Ajv = requireTool('ajv').default;

// The schemas of CRDS_DIR, made strict the way the API server is (unknown fields are errors).
function strictify(schema) {
  if (Array.isArray(schema)) return schema.map(strictify);
  if (!schema || typeof schema !== 'object') return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-')) continue;
    out[key] = ['properties', 'patternProperties'].includes(key)
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, strictify(v)]))
      : strictify(value);
  }
  if (schema.properties && !schema['x-kubernetes-preserve-unknown-fields'] && !('additionalProperties' in schema)) {
    out.additionalProperties = false;
  }
  return out;
}
const vendored = new Map();
for (const file of crdsDir && fs.existsSync(crdsDir) ? fs.readdirSync(crdsDir).sort() : []) {
  if (!/\.ya?ml$/.test(file)) continue;
  const entry = jsyaml.load(fs.readFileSync(path.join(crdsDir, file), 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: false });
  vendored.set(`${entry.apiVersion} ${entry.kind}`, {
    file, validate: ajv.compile(strictify(entry.schema)), yamlStrings: entry.yamlStrings || [],
  });
}

// Custom resource packages, in lookup order (argo-cd and argo-rollouts share argoproj.io/v1alpha1).
const CUSTOM_PACKAGES = fs.readdirSync(path.join(modules, '@kubernetes-models'))
  .filter((name) => !['apimachinery', 'base', 'validate'].includes(name))
  .map((name) => `@kubernetes-models/${name}`)
  .filter((pkg) => fs.existsSync(path.join(modules, pkg, 'package.json')));
const BUILTIN_PACKAGE = 'kubernetes-models';

const versionIndexes = new Map();
async function modelsOf(pkg, apiVersion) {
  const key = `${pkg} ${apiVersion}`;
  if (!versionIndexes.has(key)) {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    const file = path.join(modules, pkg, ...(group ? [group, version] : [version]), 'index.js');
    let exported = {};
    if (fs.existsSync(file)) exported = await import(pathToFileURL(file).href);
    const byKind = new Map();
    for (const value of Object.values(exported)) {
      if (typeof value === 'function' && value.apiVersion === apiVersion && typeof value.kind === 'string') {
        byKind.set(value.kind, value);
      }
    }
    versionIndexes.set(key, byKind);
  }
  return versionIndexes.get(key);
}

async function lookup(apiVersion, kind) {
  if ((await modelsOf(BUILTIN_PACKAGE, apiVersion)).has(kind)) return { builtin: true };
  for (const pkg of CUSTOM_PACKAGES) {
    const Model = (await modelsOf(pkg, apiVersion)).get(kind);
    if (Model) return { pkg, Model };
  }
  return null;
}

function loadAllowlist() {
  if (!fs.existsSync(allowlistFile)) return { entries: new Map(), problems: [] };
  const doc = jsyaml.load(fs.readFileSync(allowlistFile, 'utf8')) || [];
  const entries = new Map();
  const problems = [];
  for (const entry of Array.isArray(doc) ? doc : []) {
    const reason = typeof entry?.reason === 'string' ? entry.reason.trim() : '';
    if (!entry?.apiVersion || !entry?.kind || reason.length < 10) {
      problems.push(`${allowlistFile}: entry ${JSON.stringify(entry)} needs apiVersion, kind and a reason`);
      continue;
    }
    entries.set(`${entry.apiVersion} ${entry.kind}`, reason);
  }
  return { entries, problems };
}

// A JSON rendering of `value`, one property or element per line, that remembers the path of every
// line, so a tsc error at line N can be named by the field it is about. Each child's line is reserved
// before its own children are appended, so the lines come out in order.
function render(value, indent, pathSoFar, out) {
  const pad = '  '.repeat(indent);
  const isArray = Array.isArray(value);
  if (!(value && typeof value === 'object')) return JSON.stringify(value);
  const keys = isArray ? value.map((_, i) => i) : Object.keys(value);
  if (keys.length === 0) return isArray ? '[]' : '{}';
  const ends = keys.map((key) => {
    const child = isArray ? `${pathSoFar}[${key}]` : (pathSoFar ? `${pathSoFar}.${key}` : key);
    const line = out.lines.length;
    out.paths[line] = child;
    out.lines.push('');
    const head = render(value[key], indent + 1, child, out);
    out.lines[line] = `${pad}  ${isArray ? '' : `${JSON.stringify(key)}: `}${head}`;
    return out.lines.length - 1;
  });
  ends.slice(0, -1).forEach((line) => { out.lines[line] += ','; });
  out.lines.push(`${pad}${isArray ? ']' : '}'}`);
  out.paths[out.lines.length - 1] = pathSoFar;
  return isArray ? '[' : '{';
}

function literal(doc) {
  const out = { lines: [''], paths: { 0: '' } };
  out.lines[0] = render(doc, 0, '', out);
  return out;
}

const problems = [];
const notes = [];
const strict = []; // {label, pkg, apiVersion, kind, doc}
let validated = 0;
let builtins = 0;
const { entries: allowlist, problems: allowlistProblems } = loadAllowlist();
problems.push(...allowlistProblems);
const usedAllowlist = new Set();

const files = fs.existsSync(renderedDir)
  ? fs.readdirSync(renderedDir).filter((f) => f.endsWith('.yaml')).sort()
  : [];
for (const file of files) {
  const slug = file.replace(/\.yaml$/, '');
  const originsFile = path.join(renderedDir, `${slug}.origins.json`);
  const origins = fs.existsSync(originsFile) ? JSON.parse(fs.readFileSync(originsFile, 'utf8')) : {};
  let docs;
  try {
    docs = jsyaml.loadAll(fs.readFileSync(path.join(renderedDir, file), 'utf8')).filter((d) => d);
  } catch (error) {
    problems.push(`${slug}: rendered output does not parse: ${error.message}`);
    continue;
  }
  for (const doc of docs) {
    const meta = doc.metadata || {};
    const key = `${doc.kind}/${meta.namespace || ''}/${meta.name || ''}`;
    const origin = origins[key] ? ` (${origins[key]})` : '';
    const label = `${slug}: ${doc.apiVersion} ${doc.kind} ${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}${origin}`;
    if (typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string') {
      problems.push(`${label}: no apiVersion/kind`);
      continue;
    }
    const found = await lookup(doc.apiVersion, doc.kind);
    if (found?.builtin) {
      builtins += 1;
      continue;
    }
    const own = vendored.get(`${doc.apiVersion} ${doc.kind}`);
    if (!found && own) {
      validated += 1;
      const details = own.validate(doc) ? [] : own.validate.errors.map((e) => `${e.instancePath || '/'} ${e.message}` +
        (e.keyword === 'additionalProperties' ? ` (unknown field ${JSON.stringify(e.params.additionalProperty)})` : '') +
        (e.keyword === 'enum' ? ` ${JSON.stringify(e.params.allowedValues)}` : ''));
      for (const field of own.yamlStrings) {
        const value = field.split('.').reduce((node, key) => (node == null ? undefined : node[key]), doc);
        if (value === undefined) continue;
        try {
          const parsed = jsyaml.load(String(value));
          if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
            details.push(`${field} is not a YAML mapping`);
          }
        } catch (error) {
          details.push(`${field} is not valid YAML: ${error.reason || error.message}`);
        }
      }
      if (details.length) problems.push(`${label}: does not match crds/${own.file}: ${details.join('; ')}`);
      console.log(`${details.length ? 'FAIL' : 'ok  '} ${label} [crds/${own.file}]`);
      continue;
    }
    if (!found) {
      const reason = allowlist.get(`${doc.apiVersion} ${doc.kind}`);
      if (reason) {
        usedAllowlist.add(`${doc.apiVersion} ${doc.kind}`);
        notes.push(`${label}: not validated (allowlisted: ${reason})`);
      } else {
        problems.push(`${label}: unknown custom kind: no CRD model for ${doc.apiVersion} ${doc.kind} ` +
          `(packages: ${CUSTOM_PACKAGES.join(', ')}); add a model or list it in ${path.basename(allowlistFile)} with a reason`);
      }
      continue;
    }
    if (found.pkg.endsWith('/external-secrets') && doc.apiVersion.endsWith('/v1beta1')) {
      notes.push(`${label}: external-secrets.io/v1beta1 is deprecated (External Secrets 0.17+ serve v1 only)`);
    }
    validated += 1;
    let failed = false;
    try {
      new found.Model(doc).validate();
      console.log(`ok   ${label} [${found.pkg}]`);
    } catch (error) {
      const details = (error.errors || []).map((e) => `${e.instancePath || '/'} ${e.message}` +
        (e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''));
      problems.push(`${label}: does not match the ${found.pkg} schema: ${details.length ? details.join('; ') : error.message}`);
      console.log(`FAIL ${label}`);
      failed = true;
    }
    strict.push({ label, pkg: found.pkg, apiVersion: doc.apiVersion, kind: doc.kind, doc, failed });
  }
}

// The strict unknown-field pass: one TypeScript file, one `satisfies` per custom resource.
if (strict.length) {
  const dir = path.join(workDir, 'crd-strict');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.symlinkSync(modules, path.join(dir, 'node_modules'));
  const imports = [];
  const body = [];
  const lineInfo = []; // line (1-based) -> {item, path}
  strict.forEach((item, i) => {
    const group = item.apiVersion.split('/');
    imports.push(`import type { I${item.kind} as T${i} } from ${JSON.stringify(`${item.pkg}/${group.join('/')}/${item.kind}`)};`);
  });
  let line = imports.length + 1;
  strict.forEach((item, i) => {
    const { lines, paths } = literal(item.doc);
    lines[0] = `export const d${i} = ${lines[0]}`;
    lines[lines.length - 1] += ` satisfies T${i};`;
    lines.forEach((text, j) => {
      lineInfo[line + j] = { item, path: paths[j] ?? '' };
      body.push(text);
    });
    line += lines.length;
  });
  fs.writeFileSync(path.join(dir, 'resources.ts'), `${imports.join('\n')}\n${body.join('\n')}\n`);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler',
      skipLibCheck: true, types: [],
    },
    files: ['resources.ts'],
  }));
  const tsc = path.join(modules, 'typescript', 'bin', 'tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', '.', '--pretty', 'false'], { cwd: dir, encoding: 'utf8' });
  const output = `${run.stdout}${run.stderr}`;
  let findings = 0;
  for (const text of output.split('\n')) {
    const match = /^resources\.ts\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(text);
    if (!match) continue;
    const info = lineInfo[Number(match[1])];
    const unknownField = ['TS2353', 'TS2561'].includes(match[3]);
    // A type error the schema validation above already reported for the same resource is not repeated.
    if (!unknownField && info && info.item.failed) continue;
    const kindOf = unknownField ? 'unknown field' : 'type error';
    findings += 1;
    problems.push(`${info ? info.item.label : 'resources.ts'}: ${kindOf} at ${info?.path || '?'}: ${match[4]}`);
  }
  if (run.status !== 0 && findings === 0 && !strict.some((item) => item.failed)) {
    problems.push(`strict field check: tsc exited ${run.status} without a finding it could place:\n${output}`);
  }
  console.log(`strict field check (TypeScript excess-property check): ${strict.length} custom resource(s), ${findings} finding(s)`);
}

for (const [key, reason] of allowlist) {
  if (!usedAllowlist.has(key)) notes.push(`allowlist entry ${key} (${reason}) matches no resource: remove it`);
}
for (const note of notes) console.log(`note ${note}`);
for (const problem of problems) console.log(`FAIL ${problem}`);
console.log(`crd-schema: ${validated} custom resource(s) validated, ${builtins} built-in left to kubernetes-validate, ` +
  `${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
