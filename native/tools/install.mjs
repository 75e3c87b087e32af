#!/usr/bin/env node
// `npm install` / `npm ci` hook: uses a prebuild that loads on this machine, else builds the addon
// against the libtorch that native/cmake/FindLibtorch.cmake finds. Output goes to
// build/install.log; on failure the reason is printed without CMake's noise.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const log = join(root, 'build', 'install.log');

function loads(file) {
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
  return probe.status === 0;
}

if (process.env.ONESTEP_SKIP_BUILD) {
  console.log('onestep: ONESTEP_SKIP_BUILD is set; not building the native addon');
  process.exit(0);
}

const prebuildDir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (existsSync(prebuildDir)) {
  for (const name of readdirSync(prebuildDir).filter((n) => n.endsWith('.node'))) {
    if (loads(join(prebuildDir, name))) {
      console.log(`onestep: using prebuild ${name}`);
      process.exit(0);
    }
  }
}

mkdirSync(dirname(log), { recursive: true });
const started = Date.now();
const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
const build = spawnSync(process.execPath, [cmakeJs, 'build', '--out', 'build'], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? String(availableParallelism()) },
  maxBuffer: 256 * 1024 * 1024,
});
const output = `${build.stdout ?? ''}${build.stderr ?? ''}`;
writeFileSync(log, output);

if (build.status !== 0) {
  // FindLibtorch's own message, without the CMake trace around it.
  const own = /ONESTEP_ERROR_BEGIN\n([\s\S]*?)\nONESTEP_ERROR_END/.exec(output);
  if (own) {
    console.error(`\nonestep: ${own[1]}\n`);
  } else {
    console.error(output.split('\n').slice(-60).join('\n'));
    console.error(`\nonestep: building the native addon failed (full log: ${log}).`);
  }
  process.exit(1);
}

const meta = JSON.parse(readFileSync(join(root, 'build', 'Release', 'onestep.json'), 'utf8'));
console.log(`onestep: built the native addon against libtorch ${meta.torch} (${meta.flavour}) from ${meta.source} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
