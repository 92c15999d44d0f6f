#!/usr/bin/env node
// Thin entry: the CLI lives in src/cli (compiled to dist/ by `npm ci` through the prepare script).
import { main } from '../dist/cli/index.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`xasmap: internal error: ${err && err.stack ? err.stack : err}`);
    process.exitCode = 1;
  },
);
