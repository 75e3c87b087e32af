#!/usr/bin/env node
// `npm run prebuild`: a stripped Node-API prebuild for this platform, named after the libtorch it
// was built against: prebuilds/<platform>-<arch>/onestep-<flavour>.node, e.g.
// onestep-torch2.11-cu130.node. src/native.ts picks prebuilds by that name.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const prebuildify = require('prebuildify');

// Configure and build once to learn the flavour (the shim's build below is then a no-op).
const first = spawnSync(process.execPath, [join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js'), 'build', '--out', 'build'], { cwd: root, stdio: 'inherit' });
if (first.status !== 0) process.exit(first.status ?? 1);
const { flavour } = JSON.parse(readFileSync(join(root, 'build', 'Release', 'onestep.json'), 'utf8'));

prebuildify({
  cwd: root,
  napi: true,
  strip: true,
  name: `onestep-${flavour}`,
  nodeGyp: join(root, 'native', 'tools', 'node-gyp-shim.sh'),
}, (error) => {
  if (error) {
    console.error(error.message);
    process.exit(1);
  }
  console.log(`prebuilds/${process.platform}-${process.arch}/onestep-${flavour}.node`);
});
