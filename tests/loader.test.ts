import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, cpSync, symlinkSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildInfo, getNumThreads } from '../src/index.js';
import { defaultThreadCount, explainLoadFailure, findCandidates, loadBinding, packageRoot } from '../src/native.js';
import { expectError } from './helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'onestep-loader-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sharedLibrary(name: string, source: string, flags: string[] = []): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'lib.c'), source);
  const out = join(dir, `${name}.node`);
  execFileSync('cc', ['-shared', '-fPIC', '-o', out, join(dir, 'lib.c'), ...flags]);
  return out;
}

describe('finding the addon', () => {
  it('prefers the local build, then CUDA prebuilds, newest libtorch first, then CPU ones', () => {
    const root = join(scratch, 'pkg');
    mkdirSync(join(root, 'build', 'Release'), { recursive: true });
    writeFileSync(join(root, 'build', 'Release', 'onestep.node'), '');
    writeFileSync(join(root, 'build', 'Release', 'onestep.json'),
      JSON.stringify({ torch: '2.11.0', cuda: '13.0', source: "python3's torch" }));
    const prebuilds = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(prebuilds, { recursive: true });
    for (const name of ['onestep-torch1.13-cpu.node', 'onestep-torch2.9-cu128.node', 'onestep-torch2.11-cu130.node', 'unrelated.node']) {
      writeFileSync(join(prebuilds, name), '');
    }
    const found = findCandidates(root);
    expect(found.map((c) => c.file.slice(root.length + 1))).toEqual([
      'build/Release/onestep.node',
      `prebuilds/${process.platform}-${process.arch}/onestep-torch2.11-cu130.node`,
      `prebuilds/${process.platform}-${process.arch}/onestep-torch2.9-cu128.node`,
      `prebuilds/${process.platform}-${process.arch}/onestep-torch1.13-cpu.node`,
    ]);
    expect(found[0]!.needs).toBe("libtorch 2.11.0 (CUDA 13.0) from python3's torch");
    expect(found[1]!.needs).toBe('libtorch 2.11 (CUDA 130)');
    expect(found[3]!.needs).toBe('libtorch 1.13 (CPU)');
  });

  it('says how to build when there is nothing to load', async () => {
    await expectError(() => loadBinding([]), 'ERR_NATIVE_LOAD', /not built[\s\S]*npm run rebuild:native/);
  });

  it('explains a binary that needs a libtorch symbol this machine lacks', async () => {
    // Resolved at load time (-z now), as libtorch's C++ symbols are for a real addon.
    const file = sharedLibrary('mismatch', 'extern void _ZN2at14onestep_absentEv(void);\nvoid probe(void) { _ZN2at14onestep_absentEv(); }\n', ['-Wl,-z,now']);
    const error = await expectError(() => loadBinding([{ file, needs: 'libtorch 2.11.0 (CUDA 13.0)' }]), 'ERR_NATIVE_LOAD');
    expect(error.message).toContain(file);
    expect(error.message).toContain('needs libtorch 2.11.0 (CUDA 13.0)');
    expect(error.message).toMatch(/undefined symbol: _ZN2at14onestep_absentEv/);
    expect(error.message).toMatch(/not the one it was built against/);
    expect(error.message).toMatch(/npm run rebuild:native/);
  });

  it('explains a binary whose libtorch libraries are missing', async () => {
    const stub = sharedLibrary('libtorch_stub', 'void stub(void) {}\n');
    const libdir = join(scratch, 'libtorch_stub');
    execFileSync('cp', [stub, join(libdir, 'libtorch_stub.so')]);
    const file = sharedLibrary('needslib', 'extern void stub(void);\nvoid probe(void) { stub(); }\n', [`-L${libdir}`, '-ltorch_stub']);
    rmSync(join(libdir, 'libtorch_stub.so'));
    const error = await expectError(() => loadBinding([{ file, needs: 'libtorch 1.13.0 (CPU)' }]), 'ERR_NATIVE_LOAD');
    expect(error.message).toMatch(/libtorch_stub\.so: cannot open shared object file/);
    expect(error.message).toMatch(/not installed or not on the library path/);
  });

  it('explains a file that is not a native addon', () => {
    const file = join(scratch, 'garbage.node');
    writeFileSync(file, 'not an ELF file at all');
    const text = explainLoadFailure({ file, needs: 'x' }, new Error(`${file}: invalid ELF header`));
    expect(text).toMatch(/not a native addon for this platform/);
  });
});

describe('what was loaded', () => {
  it('reports the libtorch it was built against', () => {
    const info = buildInfo();
    expect(info.torchVersion).toMatch(/^\d+\.\d+\.\d+$/);
    const [major, minor] = info.torchVersion.split('.');
    expect(info.flavour).toBe(`torch${major}.${minor}-${info.cuda ? `cu${info.cudaVersion!.replace('.', '')}` : 'cpu'}`);
    expect(info.parallelInfo).toMatch(/ATen\/Parallel/);
  });

  it('uses every core for intra-op work unless OMP_NUM_THREADS says otherwise', () => {
    expect(defaultThreadCount({})).toBe(availableParallelism());
    expect(defaultThreadCount({ OMP_NUM_THREADS: '3' })).toBe(3);
    expect(defaultThreadCount({ OMP_NUM_THREADS: 'many' })).toBe(availableParallelism());
    expect(getNumThreads()).toBe(defaultThreadCount());
  });
});

describe('building the addon', () => {
  // A copy of the project's build files, so that these builds never touch build/.
  function project(name: string): string {
    const dir = join(scratch, name);
    mkdirSync(dir, { recursive: true });
    cpSync(join(packageRoot, 'CMakeLists.txt'), join(dir, 'CMakeLists.txt'));
    cpSync(join(packageRoot, 'native'), join(dir, 'native'), { recursive: true });
    cpSync(join(packageRoot, 'package.json'), join(dir, 'package.json'));
    symlinkSync(join(packageRoot, 'node_modules'), join(dir, 'node_modules'));
    return dir;
  }

  function install(dir: string, env: Record<string, string>) {
    return spawnSync(process.execPath, [join(dir, 'native', 'tools', 'install.mjs')], {
      cwd: dir, encoding: 'utf8', env: { ...process.env, ...env },
    });
  }

  it('names the three ways to provide libtorch, in one short message, when none is found', () => {
    // CMAKE_DISABLE_FIND_PACKAGE_Torch hides the system's libtorch from CMake, as on a machine without it.
    // ONESTEP_PYTHON pointing nowhere skips python3's torch (the GPU machine has one).
    const run = install(project('no-torch'), {
      npm_cmake_CMAKE_DISABLE_FIND_PACKAGE_Torch: 'ON', LIBTORCH: '', ONESTEP_PYTHON: join(scratch, 'no-python3'),
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('onestep: libtorch was not found.');
    expect(run.stderr).toMatch(/1\. LIBTORCH=[\s\S]*2\. the torch package of `python3`[\s\S]*3\. the system's libtorch \(Debian 12: apt-get install libtorch-dev\)/);
    expect(run.stderr).not.toMatch(/CMake Error|Call Stack/);
    expect(run.stderr.split('\n').length).toBeLessThan(12);
  });

  it('says what is wrong with a LIBTORCH that holds no libtorch', () => {
    const run = install(project('bad-libtorch'), { LIBTORCH: join(scratch, 'nowhere') });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`LIBTORCH=${join(scratch, 'nowhere')} holds no share/cmake/Torch/TorchConfig.cmake`);
    expect(run.stderr).not.toMatch(/CMake Error/);
  });
});
