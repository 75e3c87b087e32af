// Data-parallel training over libtorch's c10d (Gloo on CPU processes) and the launcher (CI: CPU).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, launch, ProcessGroup, type DiJSStats } from '../src/index.js';
import { expectError } from './helpers.js';
import { trainTiny, type TinyRun } from './fixtures/dist-dijs-run.js';
import { trainTinyTeacher } from './fixtures/dist-teacher.js';

const root = join(import.meta.dirname, '..');
const fixture = (name: string) => join(root, 'tests', 'fixtures', name);
const dir = mkdtempSync(join(tmpdir(), 'onestep-dist-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// A fresh port per launch: the rendezvous of one test must not meet another's leftovers.
let port = 29_500 + Math.floor(Math.random() * 5_000);
const nextPort = () => port++;

/** Collects a launch's output lines. */
function lines(): { stream: Writable; text: string[] } {
  const text: string[] = [];
  const stream = new Writable({ write(chunk, _enc, done) { text.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  return { stream, text };
}

function maxDifference(a: Map<string, Float32Array>, b: Record<string, number[]>): number {
  let worst = 0;
  for (const [name, v] of a) {
    const w = b[name]!;
    expect(w, name).toHaveLength(v.length);
    for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(v[i]! - w[i]!));
  }
  return worst;
}

async function launchTiny(env: Record<string, string>): Promise<{ weights: Record<string, number[]>; stats: DiJSStats[] }> {
  const out = join(dir, `run-${port}.json`);
  await launch({ nproc: 2, script: fixture('dist-dijs.ts'), masterPort: nextPort(), env: { ...env, OUT: out }, stdout: lines().stream, stderr: lines().stream });
  return JSON.parse(readFileSync(out, 'utf8'));
}

describe.skipIf(!ProcessGroup.backends().includes('gloo'))('data-parallel DiJS over Gloo', () => {
  let alone: TinyRun;

  it('two processes of 4 images train to the same weights as one process of 8 (float32 tolerance)', async () => {
    alone = await trainTiny({ batchSize: 8, steps: 3, save: join(dir, 'alone-2.safetensors') });
    const two = await launchTiny({ BATCH: '4', STEPS: '3' });
    // Only the order of float32 sums differs (measured: 2e-7 after 3 steps at lr 1e-3).
    expect(maxDifference(alone.weights, two.weights)).toBeLessThan(1e-5);
    for (const [i, s] of alone.stats.entries()) {
      expect(two.stats[i]!.imagesSeen).toBe(s.imagesSeen);
      expect(two.stats[i]!.lossRatio).toBeCloseTo(s.lossRatio, 5);
      expect(two.stats[i]!.lossGenerator).toBeCloseTo(s.lossGenerator, 5);
      expect(two.stats[i]!.augmentProbability).toBeCloseTo(s.augmentProbability, 5);
    }
    // The adaptive p moved (the group's mean r drives it, so both processes keep one p).
    expect(new Set(alone.stats.map((s) => s.augmentProbability.toFixed(3))).size).toBeGreaterThan(1);
  }, 120_000);

  it('resumes one process\'s checkpoint on two processes and continues the same run', async () => {
    // Alone: 3 steps then save, then 2 more (the reference). Two processes: from the saved checkpoint, 2 steps.
    const saved = join(dir, 'alone-3.safetensors');
    await trainTiny({ batchSize: 8, steps: 3, save: saved });
    const reference = await trainTiny({ batchSize: 8, steps: 2, resume: saved });
    const two = await launchTiny({ BATCH: '4', STEPS: '2', RESUME: saved });
    expect(two.stats.map((s) => s.imagesSeen)).toEqual([32, 40]);
    expect(maxDifference(reference.weights, two.weights)).toBeLessThan(1e-5);
  }, 120_000);
});

describe.skipIf(!ProcessGroup.backends().includes('gloo'))('data-parallel teacher training over Gloo', () => {
  it('two processes of 4 images train the teacher to the weights of one process of 8', async () => {
    const alone = await trainTinyTeacher({ batchSize: 8, steps: 3 });
    const out = join(dir, 'teacher-two.json');
    await launch({ nproc: 2, script: fixture('dist-teacher.ts'), masterPort: nextPort(), env: { BATCH: '4', STEPS: '3', OUT: out }, stdout: lines().stream, stderr: lines().stream });
    const two = JSON.parse(readFileSync(out, 'utf8')) as { weights: Record<string, number[]>; losses: number[] };
    expect(maxDifference(alone.weights, two.weights)).toBeLessThan(1e-5);
    for (const [i, loss] of alone.losses.entries()) expect(two.losses[i]).toBeCloseTo(loss, 3);
  }, 120_000);
});

describe.skipIf(!ProcessGroup.backends().includes('gloo'))('stopping a group together', () => {
  it('one process\'s stop vote (a time budget) ends every process at the same call', async () => {
    const out = lines();
    await launch({ nproc: 2, script: fixture('dist-stop.ts'), masterPort: nextPort(), stdout: out.stream });
    // Rank 1 votes when queuing its 3rd call; the 4th was queued before that call came back: 4 calls of 2 × 8 images.
    expect(out.text.sort()).toEqual(['[rank 0] imagesSeen 64 calls 4', '[rank 1] imagesSeen 64 calls 4']);
  }, 60_000);
});

describe.skipIf(!ProcessGroup.backends().includes('gloo'))('onestep launch', () => {
  it('gives every rank its place, forwards output with a rank prefix, and resolves when all finish', async () => {
    const out = lines();
    const exits = await launch({ nproc: 3, script: fixture('dist-allreduce.ts'), masterPort: nextPort(), stdout: out.stream });
    expect(exits.map((e) => [e.rank, e.code])).toEqual([[0, 0], [1, 0], [2, 0]]);
    expect(out.text.sort()).toEqual([0, 1, 2].map((r) => expect.stringMatching(new RegExp(`^\\[rank ${r}\\] pid \\d+ sum 6 world 3$`))));
  }, 60_000);

  it('two "nodes" of two processes meet through one rendezvous', async () => {
    const masterPort = nextPort();
    const outs = [lines(), lines()];
    await Promise.all([0, 1].map((nodeRank) => launch({ nproc: 2, nnodes: 2, nodeRank, masterPort, script: fixture('dist-allreduce.ts'), stdout: outs[nodeRank]!.stream })));
    expect(outs[0]!.text.map((l) => l.slice(0, 8)).sort()).toEqual(['[rank 0]', '[rank 1]']);
    expect(outs[1]!.text.map((l) => l.slice(0, 8)).sort()).toEqual(['[rank 2]', '[rank 3]']);
    for (const line of [...outs[0]!.text, ...outs[1]!.text]) expect(line).toMatch(/sum 10 world 4$/);
  }, 60_000);

  it('a failing rank ends the run with an error naming it, and no process is left behind', async () => {
    const out = lines();
    const error = await expectError(
      () => launch({ nproc: 3, script: fixture('dist-allreduce.ts'), masterPort: nextPort(), env: { FAIL_RANK: '1' }, stdout: out.stream, graceMs: 2000 }),
      ErrorCode.Distributed, /rank 1 \(pid \d+\) exited with code 3; the other ranks were stopped/);
    expect(error.message).toMatch(/rank 1/);
    const pids = out.text.map((l) => Number(/pid (\d+)/.exec(l)![1]));
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  }, 60_000);

  it('a collective whose peer has gone fails with ERR_DISTRIBUTED instead of hanging or aborting', async () => {
    const out = lines();
    await launch({ nproc: 2, script: fixture('dist-peer-gone.ts'), masterPort: nextPort(), stdout: out.stream });
    expect(out.text).toEqual([expect.stringMatching(/^\[rank 0\] allReduce failed: ERR_DISTRIBUTED: allReduce failed \(a peer process may have stopped\)/)]);
  }, 60_000);

  it('closes the group as destroy_process_group does: rank 0 (the store) waits for the others, 5 s at most', async () => {
    const dispose = async (env: Record<string, string>) => {
      const out = lines();
      await launch({ nproc: 2, script: fixture('dist-allreduce.ts'), masterPort: nextPort(), env, stdout: out.stream });
      return Number(/\[rank 0\] dispose ms (\d+)/.exec(out.text.join('\n'))![1]);
    };
    // Rank 1 closes 1.5 s late: rank 0's store stays up until then.
    const late = await dispose({ DISPOSE_DELAY_MS: '1500' });
    expect(late).toBeGreaterThan(1200);
    expect(late).toBeLessThan(4500);
    // Rank 1 never closes (it exits first): rank 0 gives up after 5 s instead of hanging.
    const gone = await dispose({ DISPOSE_DELAY_MS: '0', UNDISPOSED: '1' });
    expect(gone).toBeGreaterThan(4500);
    expect(gone).toBeLessThan(9000);
  }, 60_000);

  it('a rank killed outright (SIGKILL) is reported as such', async () => {
    await expectError(
      () => launch({ nproc: 2, script: fixture('dist-allreduce.ts'), masterPort: nextPort(), env: { FAIL_RANK: '0', KILL: '1' }, stdout: lines().stream, graceMs: 2000 }),
      ErrorCode.Distributed, /rank 0 \(pid \d+\) was killed by SIGKILL; the other ranks were stopped/);
  }, 60_000);

  it('the command line runs a script and says how to use it', () => {
    const cli = join(root, 'bin', 'onestep.mjs');
    const ok = spawnSync(process.execPath, [cli, 'launch', '--nproc', '2', '--master-port', String(nextPort()), fixture('dist-allreduce.ts')], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/\[rank 1\] pid \d+ sum 3 world 2/);
    const bad = spawnSync(process.execPath, [cli, 'launch', '--nproc', '2'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/which script\?[\s\S]*usage: onestep launch/);
    const unknown = spawnSync(process.execPath, [cli, 'train'], { encoding: 'utf8' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'train'/);
  }, 60_000);

  it('rejects bad settings clearly', async () => {
    await expectError(() => launch({ nproc: 0, script: 'x.ts' }), ErrorCode.InvalidArgValue, /nproc/);
    await expectError(() => launch({ nproc: 2, nnodes: 2, nodeRank: 2, script: 'x.ts' }), ErrorCode.InvalidArgValue, /nodeRank/);
    await expectError(() => ProcessGroup.init({ backend: 'mpi' as 'gloo' }), ErrorCode.InvalidArgType, /backend/);
    await expectError(() => ProcessGroup.init({ backend: 'gloo', rank: 2, worldSize: 2 }), ErrorCode.InvalidArgValue, /rank must be/);
    await expectError(() => ProcessGroup.init({ backend: 'gloo', masterPort: 70000 }), ErrorCode.InvalidArgValue, /masterPort/);
  });
});
