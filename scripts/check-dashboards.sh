#!/usr/bin/env bash
# Checks the Grafana dashboards without a Grafana server:
#   scripts/check-dashboards.sh [FILE.json ...]   (default: every grafana/dashboards/*.json)
#   scripts/check-dashboards.sh --self-test       (proves each check rejects a deliberately broken copy)
#
# 1. Type check against Grafana's published schema: each dashboard becomes
#    `<the JSON> satisfies Dashboard` and runs through `tsc --noEmit` with npm @grafana/schema. Panel
#    `options` and `fieldConfig.defaults.custom` are also checked against the schema of the panel's
#    own plugin (timeseries, stat, table, ...), so a misspelled option is an error too. Errors point
#    at lines of the JSON file.
# 2. Rules of this project: valid JSON, a title and uid, unique panel ids and titles, a layout inside
#    the 24-column grid with no overlaps, every panel, target and variable querying through the
#    `${datasource}` variable, every target a PromQL `expr`, no hard-coded `instance` anywhere, and
#    every panel title the runbooks refer to present.
# 3. With promtool on PATH (or PROMTOOL=...), every `expr`, with Grafana's variables substituted the
#    way the live-stack check does, is parsed as PromQL (`promtool check rules`). Skipped otherwise.
#
# The npm packages (pinned: Node 20's npm would otherwise pick odd versions) are installed once into
# ${XDG_CACHE_HOME:-~/.cache}/echodiary/dashboard-check/ and reused; after that it runs offline.
set -euo pipefail
readonly INVOKED_FROM=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly GRAFANA_SCHEMA_VERSION=${GRAFANA_SCHEMA_VERSION:-13.2.3}
readonly TYPESCRIPT_VERSION=${TYPESCRIPT_VERSION:-5.9.3}
readonly CACHE_ROOT=${XDG_CACHE_HOME:-$HOME/.cache}/echodiary/dashboard-check
readonly TOOLS=$CACHE_ROOT/grafana-schema-$GRAFANA_SCHEMA_VERSION-typescript-$TYPESCRIPT_VERSION

usage() {
  sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

die() {
  echo "check-dashboards: $*" >&2
  exit 2
}

# Installs the pinned packages into $TOOLS unless a complete install is already there. The install
# goes to a scratch directory first and is moved into place whole, so an interrupted or concurrent
# run never leaves a half-installed cache behind.
ensure_tools() {
  [[ -f $TOOLS/.complete ]] && return 0
  command -v npm >/dev/null || die "npm is needed once to install @grafana/schema and typescript"
  mkdir -p "$CACHE_ROOT"
  local staging
  staging=$(mktemp -d "$TOOLS.XXXXXX")
  cat >"$staging/package.json" <<EOF
{
  "name": "echodiary-dashboard-check",
  "private": true,
  "dependencies": {
    "@grafana/schema": "$GRAFANA_SCHEMA_VERSION",
    "typescript": "$TYPESCRIPT_VERSION"
  }
}
EOF
  echo "installing @grafana/schema@$GRAFANA_SCHEMA_VERSION and typescript@$TYPESCRIPT_VERSION into $TOOLS" >&2
  if ! (cd "$staging" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error >&2); then
    rm -rf "$staging"
    die "npm install failed"
  fi
  local got
  got=$(cd "$staging" && node -p 'require("./node_modules/@grafana/schema/package.json").version + " " +
    require("./node_modules/typescript/package.json").version')
  if [[ $got != "$GRAFANA_SCHEMA_VERSION $TYPESCRIPT_VERSION" ]]; then
    rm -rf "$staging"
    die "npm installed $got, not $GRAFANA_SCHEMA_VERSION $TYPESCRIPT_VERSION"
  fi
  touch "$staging/.complete"
  if [[ -f $TOOLS/.complete ]]; then
    rm -rf "$staging" # another run finished first
  else
    rm -rf "$TOOLS"
    mv -T "$staging" "$TOOLS"
  fi
}

main() {
  local mode=check
  local files=()
  while (($#)); do
    case $1 in
      --self-test) mode=self-test ;;
      -h | --help)
        usage
        exit 0
        ;;
      -*) die "unknown option $1 (see --help)" ;;
      /*) files+=("$1") ;;
      *) files+=("$INVOKED_FROM/$1") ;;
    esac
    shift
  done
  if ((${#files[@]} == 0)); then
    shopt -s nullglob
    files=(grafana/dashboards/*.json)
    shopt -u nullglob
    ((${#files[@]})) || die "no dashboards under grafana/dashboards/"
  fi
  local file
  for file in "${files[@]}"; do
    [[ -f $file ]] || die "no such file: $file"
  done
  command -v node >/dev/null || die "node is required"

  ensure_tools

  local promtool=${PROMTOOL:-}
  if [[ -z $promtool ]]; then
    promtool=$(command -v promtool || true)
  fi

  local work
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" EXIT
  ln -s "$TOOLS/node_modules" "$work/node_modules"
  write_checker "$work/check.js"
  node "$work/check.js" "$mode" "$work" "$promtool" "${files[@]}"
}

write_checker() {
  cat >"$1" <<'JS'
'use strict';
// The checker proper; see the header of scripts/check-dashboards.sh.
const fs = require('fs');
const path = require('path');
const cp = require('child_process');

const [mode, work, promtool, ...files] = process.argv.slice(2);

// Panel titles the runbooks and alerts refer to, by dashboard uid. Renaming one breaks a runbook.
const REQUIRED_TITLES = {
  'echodiary-overview': [
    'Requests per second by route',
    'Latency p50 / p95 / p99',
    '5xx error rate',
    'DB pool in use vs ceiling',
    'PostgreSQL connections vs max_connections',
    'Scrape target health',
    'Running version',
    'Slow queries (p95 by operation)',
    'Readiness',
    'Email deliveries by outcome (15m)',
  ],
};
const MIN_SCHEMA_VERSION = 39;
const DATASOURCE_VARIABLE = 'datasource';
const DATASOURCE_UIDS = new Set(['${datasource}', '$datasource']);
const INSTANCE_VALUE = /^\$\{?instance(:[a-z]+)?\}?$/;
// Panel types this project uses, with their plugin's schema in @grafana/schema: [directory, type
// prefix, whether it has a custom field config]. A type missing here is an error (a typo renders as
// "panel plugin not found"); add it here when a dashboard needs it.
const PANEL_TYPES = {
  timeseries: ['timeseries', 'TimeSeriesPanelCfg', true],
  stat: ['stat', 'StatPanelCfg', false],
  gauge: ['gauge', 'GaugePanelCfg', false],
  bargauge: ['bargauge', 'BarGaugePanelCfg', false],
  table: ['table', 'TablePanelCfg', true],
  text: ['text', 'TextPanelCfg', false],
  piechart: ['piechart', 'PieChartPanelCfg', true],
  heatmap: ['heatmap', 'HeatmapPanelCfg', true],
  histogram: ['histogram', 'HistogramPanelCfg', true],
  'state-timeline': ['statetimeline', 'StateTimelinePanelCfg', true],
  'status-history': ['statushistory', 'StatusHistoryPanelCfg', true],
  barchart: ['barchart', 'BarChartPanelCfg', true],
};
const QUERYLESS_TYPES = new Set(['text']);
// What the live-stack check substitutes for Grafana's variables before it runs each expr.
const SUBSTITUTIONS = [
  [/\$\{?__rate_interval\}?/g, '1m'],
  [/\$\{?__interval\}?/g, '1m'],
  [/\$\{?__range\}?/g, '5m'],
  [/\$\{?job\}?/g, 'echodiary'],
  [/\$\{?instance(:[a-z]+)?\}?/g, '.*'],
];

// ---------------------------------------------------------------------------- project rules

function walk(value, at, visit) {
  visit(value, at);
  if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${at}[${i}]`, visit));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) walk(v, `${at}.${k}`, visit);
  }
}

function allPanels(dash) {
  const out = [];
  (Array.isArray(dash.panels) ? dash.panels : []).forEach((p, i) => {
    out.push({ panel: p, at: `panels[${i}]`, nested: false });
    if (p && p.type === 'row' && Array.isArray(p.panels)) {
      p.panels.forEach((q, j) => out.push({ panel: q, at: `panels[${i}].panels[${j}]`, nested: true }));
    }
  });
  return out;
}

function isVariableRef(ds) {
  return ds && typeof ds === 'object' && DATASOURCE_UIDS.has(ds.uid);
}

function describe(p, at) {
  const title = p && typeof p.title === 'string' && p.title ? ` "${p.title}"` : '';
  const id = p && p.id !== undefined ? ` id ${JSON.stringify(p.id)}` : '';
  return `${at}${id}${title}`;
}

function lint(dash) {
  const errors = [];
  const err = (msg) => errors.push(msg);
  if (!dash || typeof dash !== 'object' || Array.isArray(dash)) return ['not a JSON object'];

  if (typeof dash.title !== 'string' || !dash.title.trim()) err('the dashboard has no title');
  if (typeof dash.uid !== 'string' || !/^[A-Za-z0-9_-]{1,40}$/.test(dash.uid)) {
    err('the dashboard needs a fixed uid (1-40 of A-Z a-z 0-9 _ -)');
  }
  if (!(typeof dash.schemaVersion === 'number' && dash.schemaVersion >= MIN_SCHEMA_VERSION)) {
    err(`schemaVersion must be ${MIN_SCHEMA_VERSION} or later (current Grafana)`);
  }

  const variables = (dash.templating && Array.isArray(dash.templating.list)) ? dash.templating.list : [];
  const dsVar = variables.find((v) => v && v.name === DATASOURCE_VARIABLE);
  if (!dsVar || dsVar.type !== 'datasource' || dsVar.query !== 'prometheus') {
    err(`templating needs a variable "${DATASOURCE_VARIABLE}" of type datasource with query "prometheus"`);
  }
  variables.forEach((v, i) => {
    if (!v || typeof v !== 'object') return;
    if (v.type === 'query' && !isVariableRef(v.datasource)) {
      err(`templating.list[${i}] "${v.name}": must query through the \${${DATASOURCE_VARIABLE}} variable`);
    }
    if (v.name === 'instance') {
      const values = [].concat(v.current && v.current.value !== undefined ? v.current.value : []);
      if (values.some((x) => x !== '$__all') || (Array.isArray(v.options) && v.options.length)) {
        err(`templating.list[${i}] "instance": stores concrete instances (current/options); ` +
          'leave it on All with no saved options');
      }
    }
  });

  // Every Prometheus datasource reference anywhere (panels, targets, variables, annotations) goes
  // through the variable; so does every panel that queries.
  walk(dash, '$', (value, at) => {
    if (value && typeof value === 'object' && !Array.isArray(value) && value.datasource &&
        typeof value.datasource === 'object' && value.datasource.type === 'prometheus' &&
        !isVariableRef(value.datasource)) {
      err(`${at}.datasource: hard-coded uid ${JSON.stringify(value.datasource.uid)}; ` +
        `use {"type": "prometheus", "uid": "\${${DATASOURCE_VARIABLE}}"}`);
    }
  });

  // No hard-coded instance: every matcher on `instance`, in any string, takes the variable.
  const matcher = /\binstance\s*(=~|!~|!=|=)\s*("((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|`([^`]*)`)/g;
  walk(dash, '$', (value, at) => {
    if (typeof value !== 'string') return;
    for (const m of value.matchAll(matcher)) {
      const literal = m[3] ?? m[4] ?? m[5];
      if (!INSTANCE_VALUE.test(literal)) {
        err(`${at}: hard-coded instance matcher ${m[0]}; use instance=~"$instance"`);
      }
    }
  });

  const ids = new Map();
  const titles = new Map();
  const placed = [];
  for (const { panel: p, at, nested } of allPanels(dash)) {
    const where = describe(p, at);
    if (!p || typeof p !== 'object') { err(`${at}: not an object`); continue; }
    if (!Number.isInteger(p.id)) err(`${where}: id must be an integer`);
    else if (ids.has(p.id)) err(`${where}: duplicate panel id ${p.id} (also ${ids.get(p.id)})`);
    else ids.set(p.id, at);
    if (typeof p.title !== 'string' || !p.title.trim()) err(`${where}: panel has no title`);
    else if (p.type !== 'row') {
      if (titles.has(p.title)) err(`${where}: duplicate panel title (also ${titles.get(p.title)})`);
      else titles.set(p.title, at);
    }
    if (p.type !== 'row' && !Object.hasOwn(PANEL_TYPES, p.type)) {
      err(`${where}: panel type ${JSON.stringify(p.type)} is not one of ${Object.keys(PANEL_TYPES).join(', ')}`);
    }
    const g = p.gridPos;
    if (!g || ![g.x, g.y, g.w, g.h].every(Number.isInteger)) {
      err(`${where}: gridPos needs integer x, y, w, h`);
    } else if (g.x < 0 || g.y < 0 || g.w < 1 || g.h < 1 || g.x + g.w > 24) {
      err(`${where}: gridPos ${JSON.stringify(g)} is outside the 24-column grid`);
    } else if (!nested) {
      for (const o of placed) {
        if (g.x < o.g.x + o.g.w && o.g.x < g.x + g.w && g.y < o.g.y + o.g.h && o.g.y < g.y + g.h) {
          err(`${where}: gridPos overlaps ${o.where}`);
        }
      }
      placed.push({ g, where });
    }
    if (p.type === 'row') {
      if (!p.collapsed && Array.isArray(p.panels) && p.panels.length) {
        err(`${where}: an expanded row keeps its panels at the top level, not in row.panels`);
      }
      continue;
    }
    const targets = Array.isArray(p.targets) ? p.targets : [];
    if (QUERYLESS_TYPES.has(p.type) && !targets.length) continue;
    if (!isVariableRef(p.datasource)) err(`${where}: panel datasource must be the \${${DATASOURCE_VARIABLE}} variable`);
    if (!targets.length) err(`${where}: no targets`);
    const refIds = new Set();
    targets.forEach((t, i) => {
      const tw = `${where} targets[${i}]`;
      if (!t || typeof t !== 'object') { err(`${tw}: not an object`); return; }
      if (typeof t.refId !== 'string' || !t.refId) err(`${tw}: no refId`);
      else if (refIds.has(t.refId)) err(`${tw}: duplicate refId ${t.refId}`);
      else refIds.add(t.refId);
      if (!isVariableRef(t.datasource)) err(`${tw}: target datasource must be the \${${DATASOURCE_VARIABLE}} variable`);
      if (typeof t.expr !== 'string' || !t.expr.trim()) err(`${tw}: every target must be a PromQL query in "expr"`);
    });
  }

  for (const title of REQUIRED_TITLES[dash.uid] || []) {
    if (!titles.has(title)) err(`missing required panel title "${title}" (the runbooks refer to it)`);
  }
  return errors;
}

// ---------------------------------------------------------------------------- Grafana's schema

function typesModule() {
  const imports = [];
  const members = [];
  for (const [type, [dir, prefix, hasCustom]] of Object.entries(PANEL_TYPES)) {
    const alias = `p_${dir}`;
    imports.push(`import type * as ${alias} from '@grafana/schema/dist/esm/raw/composable/${dir}/panelcfg/x/${prefix}_types.gen';`);
    members.push(`  | Typed<'${type}', ${alias}.Options, ${hasCustom ? `${alias}.FieldConfig` : 'Record<string, never>'}>`);
  }
  return `// Generated by scripts/check-dashboards.sh.
import type { Dashboard, FieldConfig, FieldConfigSource, Panel, RowPanel } from '@grafana/schema';
${imports.join('\n')}

// The schema's string enums (ThresholdsMode.Absolute, ...) as the plain strings JSON holds.
type Json<T> =
  T extends string ? \`\${T}\` :
  T extends number | boolean | null | undefined ? T :
  T extends ReadonlyArray<infer U> ? Array<Json<U>> :
  T extends object ? { [K in keyof T]: Json<T[K]> } :
  T;
// The same, every property optional: plugin options that Grafana fills in with defaults.
type Loose<T> =
  T extends string ? \`\${T}\` :
  T extends number | boolean | null | undefined ? T :
  T extends ReadonlyArray<infer U> ? Array<Loose<U>> :
  T extends object ? { [K in keyof T]?: Loose<T[K]> } :
  T;

type Typed<Type extends string, Options, Custom> = Json<Omit<Panel, 'type' | 'options' | 'fieldConfig'>> & {
  type: Type;
  options?: Loose<Options>;
  fieldConfig?: Json<Omit<FieldConfigSource, 'defaults'>> & {
    defaults: Json<Omit<FieldConfig, 'custom'>> & { custom?: Loose<Custom> };
  };
};
export type CheckedPanel =
${members.join('\n')};
export type CheckedRow = Json<Omit<RowPanel, 'panels'>> & { panels: Array<CheckedPanel> };
export type CheckedDashboard = Json<Omit<Dashboard, 'panels'>> & { panels?: Array<CheckedPanel | CheckedRow> };
`;
}

const PREFIX = "import type { CheckedDashboard } from './types'; export const dashboard = ";

// Type-checks each {name, text} and returns Map name -> [error lines]. One tsc run for all.
function typeCheck(entries, dir) {
  fs.mkdirSync(dir, { recursive: true });
  if (!fs.existsSync(path.join(dir, 'node_modules'))) {
    fs.symlinkSync(fs.realpathSync(path.join(work, 'node_modules')), path.join(dir, 'node_modules'));
  }
  fs.writeFileSync(path.join(dir, 'types.ts'), typesModule());
  const byFile = new Map();
  const result = new Map();
  entries.forEach((e, i) => {
    const file = `dashboard${i}.ts`;
    // The JSON starts on line 1, right after the prefix, so tsc's line numbers are the file's.
    fs.writeFileSync(path.join(dir, file), `${PREFIX}${e.text.trimEnd()} satisfies CheckedDashboard;\n`);
    byFile.set(file, e.name);
    result.set(e.name, []);
  });
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'es2022', lib: ['es2022'], module: 'esnext',
      moduleResolution: 'bundler', skipLibCheck: true, types: [],
    },
    files: ['types.ts', ...byFile.keys()],
  }, null, 2));
  const tsc = path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
  const run = cp.spawnSync(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], { encoding: 'utf8' });
  if (run.error) throw run.error;
  const fatal = [];
  let current = null; // the list that continuation lines of the last error belong to
  for (const line of `${run.stdout}${run.stderr}`.split('\n')) {
    const m = /^(?:.*[\\/])?([^\\/()]+)\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(line);
    if (m && byFile.has(m[1])) {
      const row = Number(m[2]);
      const col = row === 1 ? Math.max(1, Number(m[3]) - PREFIX.length) : Number(m[3]);
      current = result.get(byFile.get(m[1]));
      current.push(`${row}:${col}: ${m[4]}: ${clip(m[5])}`);
    } else if (line.trim()) {
      // Continuation lines of the last error; anything else (an error in types.ts, a broken
      // install) is fatal for every dashboard.
      if (current && /^\s/.test(line)) {
        if (current.length < 200) current.push(`    ${clip(line.trim())}`);
      } else {
        current = fatal;
        fatal.push(`schema check failed: ${clip(line.trim())}`);
      }
    }
  }
  if (run.status !== 0 && !fatal.length && [...result.values()].every((l) => !l.length)) {
    fatal.push(`schema check failed: tsc exited ${run.status}`);
  }
  for (const list of result.values()) list.push(...fatal);
  return result;
}

function clip(s) {
  return s.length > 600 ? `${s.slice(0, 600)}...` : s;
}

// ---------------------------------------------------------------------------- PromQL syntax

function substitute(expr) {
  return SUBSTITUTIONS.reduce((e, [re, to]) => e.replace(re, to), expr);
}

// Parses every expr with promtool as a recording rule; returns Map name -> [error lines].
function promqlCheck(entries, dir) {
  const result = new Map(entries.map((e) => [e.name, []]));
  if (!promtool) return result;
  fs.mkdirSync(dir, { recursive: true });
  const files = [];
  entries.forEach((e, i) => {
    if (!e.dash) return;
    const groups = [];
    for (const { panel: p } of allPanels(e.dash)) {
      if (!p || !Array.isArray(p.targets)) continue;
      const rules = p.targets
        .filter((t) => t && typeof t.expr === 'string' && t.expr.trim())
        .map((t) => ({ record: `dashboard_check:panel_${p.id}_${String(t.refId).replace(/\W/g, '_')}`, expr: substitute(t.expr) }));
      if (rules.length) groups.push({ name: `panel ${p.id} ${JSON.stringify(p.title)} #${groups.length}`, rules });
    }
    const file = path.join(dir, `dashboard${i}.rules.yml`);
    fs.writeFileSync(file, JSON.stringify({ groups }, null, 2)); // JSON is YAML
    files.push([file, e.name]);
  });
  for (const [file, name] of files) {
    const run = cp.spawnSync(promtool, ['check', 'rules', file], { encoding: 'utf8' });
    if (run.error) throw run.error;
    if (run.status !== 0) {
      const lines = `${run.stdout}${run.stderr}`.split('\n')
        .filter((l) => l.trim() && !/^(Checking|\s*FAILED:|\s*SUCCESS)/.test(l))
        .map((l) => `PromQL: ${clip(l.replace(`${file}: `, '').trim().replace(/^\d+:\d+: /, ''))}`);
      result.get(name).push(...(lines.length ? lines : ['PromQL: promtool check rules failed']));
    }
  }
  return result;
}

// ---------------------------------------------------------------------------- driver

function checkAll(entries, dir, { acrossFiles = true } = {}) {
  const problems = new Map(entries.map((e) => [e.name, []]));
  for (const e of entries) {
    try {
      e.dash = JSON.parse(e.text);
    } catch (error) {
      const at = /at position (\d+)/.exec(error.message);
      const where = at ? `${e.text.slice(0, Number(at[1])).split('\n').length}: ` : '';
      problems.get(e.name).push(`${where}invalid JSON: ${error.message}`);
      continue;
    }
    problems.get(e.name).push(...lint(e.dash));
  }
  const seen = new Map();
  for (const e of acrossFiles ? entries : []) {
    if (!e.dash || typeof e.dash.uid !== 'string') continue;
    if (seen.has(e.dash.uid)) problems.get(e.name).push(`uid ${e.dash.uid} is also used by ${seen.get(e.dash.uid)}`);
    else seen.set(e.dash.uid, e.name);
  }
  const parsed = entries.filter((e) => e.dash);
  for (const [name, list] of typeCheck(parsed, path.join(dir, 'tsc'))) problems.get(name).push(...list);
  for (const [name, list] of promqlCheck(parsed, path.join(dir, 'promql'))) problems.get(name).push(...list);
  return problems;
}

function report(problems) {
  let failed = 0;
  for (const [name, list] of problems) {
    if (list.length) {
      failed += 1;
      for (const line of list) console.log(/^\s/.test(line) ? line : `${name}: ${line}`);
    } else {
      console.log(`${name}: ok`);
    }
  }
  return failed;
}

// Broken copies of a good dashboard, each with the check that must reject it.
function mutants(name, text) {
  const out = [];
  const add = (label, expect, mutate) => {
    const dash = JSON.parse(text);
    const what = mutate(dash);
    if (what === undefined) throw new Error(`self-test: ${name} has nothing to break for "${label}"`);
    out.push({ label, expect, text: typeof what === 'string' ? what : `${JSON.stringify(dash, null, 2)}\n` });
  };
  const panels = (d) => allPanels(d).map((x) => x.panel).filter((p) => p && p.type !== 'row');
  add('invalid JSON', /invalid JSON/, () => text.trimEnd().replace(/}$/, ''));
  add('a field of the wrong type (gridPos.h as a string)', /TS2322/, (d) => {
    const p = panels(d).find((x) => x.gridPos);
    if (!p) return undefined;
    p.gridPos.h = String(p.gridPos.h);
    return d;
  });
  add('an unknown top-level key', /TS2353/, (d) => { d.refreshInterval = '30s'; return d; });
  add('a misspelled panel option', /TS2353|TS2561/, (d) => {
    const p = panels(d).find((x) => x.type === 'stat' || x.type === 'timeseries');
    if (!p) return undefined;
    p.options = { ...(p.options || {}), legnd: { showLegend: true } };
    return d;
  });
  add('a misspelled panel type', /TS2322|not one of/, (d) => {
    const p = panels(d).find((x) => x.type === 'timeseries');
    if (!p) return undefined;
    p.type = 'timeseries2';
    return d;
  });
  add('a wrong enum value (thresholds mode)', /TS2322|TS2820/, (d) => {
    const p = panels(d).find((x) => x.fieldConfig && x.fieldConfig.defaults && x.fieldConfig.defaults.thresholds);
    if (!p) return undefined;
    p.fieldConfig.defaults.thresholds.mode = 'absolut';
    return d;
  });
  add('a required panel without its title', /missing required panel title|panel has no title/, (d) => {
    const required = REQUIRED_TITLES[d.uid] || [];
    const p = panels(d).find((x) => required.includes(x.title)) || panels(d)[0];
    if (!p) return undefined;
    delete p.title;
    return d;
  });
  add('a renamed required panel', /missing required panel title/, (d) => {
    const required = REQUIRED_TITLES[d.uid] || [];
    const p = panels(d).find((x) => required.includes(x.title));
    if (!p) return undefined;
    p.title += ' (renamed)';
    return d;
  });
  add('a duplicate panel id', /duplicate panel id/, (d) => {
    const [a, b] = panels(d);
    if (!b) return undefined;
    b.id = a.id;
    return d;
  });
  add('a hard-coded instance', /hard-coded instance/, (d) => {
    const t = panels(d).flatMap((p) => p.targets || []).find((x) => /instance\s*=~\s*"\$\{?instance/.test(x.expr || ''));
    if (!t) return undefined;
    t.expr = t.expr.replace(/instance\s*=~\s*"[^"]*"/, 'instance="10.0.0.7:9000"');
    return d;
  });
  add('a hard-coded datasource uid on a panel', /datasource/, (d) => {
    const p = panels(d).find((x) => x.datasource);
    if (!p) return undefined;
    p.datasource = { type: 'prometheus', uid: 'prometheus' };
    return d;
  });
  add('a hard-coded datasource uid on a target', /datasource/, (d) => {
    const t = panels(d).flatMap((p) => p.targets || [])[0];
    if (!t) return undefined;
    t.datasource = { type: 'prometheus', uid: 'P1809F7CD0C75ACF3' };
    return d;
  });
  add('a target without expr', /PromQL query in "expr"/, (d) => {
    const t = panels(d).flatMap((p) => p.targets || [])[0];
    if (!t) return undefined;
    delete t.expr;
    t.query = 'up';
    return d;
  });
  add('overlapping panels', /overlaps/, (d) => {
    const [a, b] = panels(d).filter((p) => p.gridPos);
    if (!b) return undefined;
    b.gridPos = { ...a.gridPos };
    return d;
  });
  if (promtool) {
    add('invalid PromQL', /PromQL:/, (d) => {
      const t = panels(d).flatMap((p) => p.targets || []).find((x) => (x.expr || '').includes('('));
      if (!t) return undefined;
      t.expr = t.expr.replace(/\)\s*$/, '');
      return d;
    });
  }
  return out;
}

function main() {
  const entries = files.map((f) => ({ name: f, text: fs.readFileSync(f, 'utf8') }));
  console.log(`Grafana schema: @grafana/schema ${require(path.join(work, 'node_modules/@grafana/schema/package.json')).version}, ` +
    `typescript ${require(path.join(work, 'node_modules/typescript/package.json')).version}; ` +
    `PromQL syntax: ${promtool ? promtool : 'skipped (no promtool)'}`);
  const failed = report(checkAll(entries, path.join(work, 'check')));
  if (mode !== 'self-test') {
    if (failed) console.log(`${failed} of ${entries.length} dashboard(s) failed`);
    return failed ? 1 : 0;
  }
  if (failed) {
    console.log('self-test: the dashboards themselves must pass first');
    return 1;
  }
  const cases = entries.flatMap((e) => mutants(e.name, e.text).map((m) => ({ ...m, name: `${e.name} [${m.label}]` })));
  // The broken copies are checked together, but not against each other (they share the uid).
  const results = checkAll(cases.map((c) => ({ name: c.name, text: c.text })), path.join(work, 'self-test'),
    { acrossFiles: false });
  let missed = 0;
  for (const c of cases) {
    const list = results.get(c.name);
    const hit = list.find((l) => c.expect.test(l));
    if (hit) console.log(`self-test: caught ${c.name}: ${hit.slice(0, 160)}`);
    else {
      missed += 1;
      console.log(`self-test: MISSED ${c.name}; got: ${list.length ? list.join(' | ').slice(0, 400) : 'no error at all'}`);
    }
  }
  console.log(missed ? `self-test: ${missed} of ${cases.length} broken copies slipped through` :
    `self-test: all ${cases.length} broken copies rejected`);
  return missed ? 1 : 0;
}

process.exitCode = main();
JS
}

main "$@"
