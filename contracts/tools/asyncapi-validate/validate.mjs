// Validates an AsyncAPI document with the official parser, offline.
//
//   node validate.mjs ../../asyncapi.yaml
//
// Prints every diagnostic (errors, warnings, infos, hints) and exits 1 when any is an
// error (severity 0), 0 otherwise, 2 on bad usage. The network is switched off before
// the parser loads, so a remote $ref is reported as an error instead of being fetched.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

const SEVERITY = ['error', 'warning', 'info', 'hint'];

function disableNetwork() {
  const refuse = (what) => () => {
    throw new Error(`network access is disabled (${what}): only local $refs are allowed`);
  };
  // The parser's http(s) resolver uses node-fetch, which calls http(s).request at call time.
  for (const [name, module] of [['http', http], ['https', https]]) {
    module.request = refuse(`${name}.request`);
    module.get = refuse(`${name}.get`);
  }
  globalThis.fetch = async () => refuse('fetch')();
}

function location(diagnostic) {
  const where = (diagnostic.path ?? []).join('/') || '<root>';
  const line = diagnostic.range?.start?.line;
  return line === undefined ? where : `${where} (line ${line + 1})`;
}

function report(diagnostics) {
  const counts = [0, 0, 0, 0];
  for (const diagnostic of diagnostics) {
    const severity = diagnostic.severity ?? 0;
    counts[severity] = (counts[severity] ?? 0) + 1;
    const label = SEVERITY[severity] ?? `severity ${severity}`;
    console.log(`${label}\t${diagnostic.code}\t${location(diagnostic)}\t${diagnostic.message}`);
  }
  console.log(
    `${counts[0]} error(s), ${counts[1]} warning(s), ${counts[2]} info(s), ${counts[3]} hint(s)`,
  );
  return counts[0];
}

async function main(argv) {
  if (argv.length !== 1) {
    console.error('usage: node validate.mjs <asyncapi document>');
    return 2;
  }
  const file = path.resolve(argv[0]);
  if (!fs.existsSync(file)) {
    console.error(`no such file: ${file}`);
    return 2;
  }
  disableNetwork();
  // Imported only now, so no module can capture the real network functions first.
  const { Parser, fromFile } = await import('@asyncapi/parser');
  const { document, diagnostics } = await fromFile(new Parser(), file).parse();
  const errors = report(diagnostics);
  if (errors > 0 || document === undefined) {
    console.log(`INVALID: ${file}`);
    return 1;
  }
  console.log(`valid AsyncAPI ${document.version()}: ${file}`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
