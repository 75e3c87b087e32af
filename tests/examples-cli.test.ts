// The example scripts' command lines (examples/command-line.ts): --help prints the script's own
// documentation; a mistyped option (exit code 2) or a bad input onestep rejects (exit code 1) is
// one line on stderr, not a stack trace.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiJSTrainer, EDMNetwork, FashionMNIST, saveStateDict } from '../src/index.js';
import { TINY_EDM } from './helpers.js';

const root = join(import.meta.dirname, '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const run = (script: string, ...args: string[]) => spawnSync(tsx, [join(root, 'examples', script), ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });

/** A new DiJS run of a tiny network on 16 training images, saved at `path` (the examples resume it). */
/** A tiny run's checkpoint at `path`, and its teacher's weights at `teacherPath` when given. */
async function saveTinyRun(path: string, teacherPath?: string): Promise<void> {
  const data = await FashionMNIST.load({ limit: 16 });
  const teacher = EDMNetwork.create(TINY_EDM);
  const trainer = new DiJSTrainer({ teacher, data, batchSize: 8, extraEmaHalfLives: [1e6] });
  await trainer.save(path);
  if (teacherPath) {
    const weights = teacher.stateDict();
    await saveStateDict(weights, teacherPath);
    for (const t of weights.values()) t.dispose();
  }
  for (const t of [trainer, teacher, data]) t.dispose();
}

describe('example command lines', () => {
  it('--help prints the header, every option with its comment and default, and exits 0', () => {
    const { status, stdout } = run('train-dijs.ts', '--help');
    expect(status).toBe(0);
    expect(stdout).toMatch(/^Train a one-step generator from the shipped Fashion-MNIST teacher with DiJS/);
    expect(stdout).toMatch(/npx tsx examples\/train-dijs.ts --device cuda --kimg 1000/);
    expect(stdout).toMatch(/\n {2}--lr-g <value> \(default 5e-5\)\n {6}\S/); // an option with its comment below it
    expect(stdout).toMatch(/\n {2}--cuda-graph\n/); // a boolean: no value, no default shown
    expect(stdout).toMatch(/--help\n {6}this text/);
  });

  it('an unknown option or a missing value: one line on stderr, exit code 2', () => {
    const unknown = run('sample.ts', '--sampels', '10');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^sample.ts: Unknown option '--sampels'.* \(--help lists the options\)\n$/);
    const missing = run('evaluate.ts', '--n');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^evaluate.ts: Option '--n <value>' argument missing \(--help lists the options\)\n$/);
    // A combination the script itself rejects (UsageError).
    const incomplete = run('evaluate.ts', '--dump', '/tmp/onestep-never-written');
    expect(incomplete.status).toBe(2);
    expect(incomplete.stderr).toBe("evaluate.ts: --dump writes the teacher's samples: give --teacher (--help lists the options)\n");
  });

  it('train-dijs.ts --resume: settings the checkpoint fixes must agree with it; the others change the run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onestep-cli-'));
    try {
      await saveTinyRun(join(dir, 'checkpoint.safetensors'), join(dir, 'teacher.safetensors'));
      const resume = (...args: string[]) => run('train-dijs.ts', '--device', 'cpu', '--resume', join(dir, 'checkpoint.safetensors'), '--data-limit', '16', '--out', dir, '--kimg', '0.016', '--no-eval', '--grid-every-kimg', '0', ...args);
      const differs = resume('--ratio-head-hidden', '8', '--extra-ema-kimg', '1000');
      expect(differs.status).toBe(2);
      expect(differs.stderr).toBe('train-dijs.ts: --ratio-head-hidden 8 (the checkpoint\'s: 0): the checkpoint fixes this; a run cannot change it when it resumes (--help lists the options)\n');
      const otherPool = resume('--ratio-head-pool', 'logits');
      expect(otherPool.status).toBe(2);
      expect(otherPool.stderr).toMatch(/^train-dijs.ts: --ratio-head-pool logits \(the checkpoint's: "features"\): the checkpoint fixes this/);
      const unknownPool = resume('--ratio-head-pool', 'max');
      expect(unknownPool.status).toBe(2);
      expect(unknownPool.stderr).toBe('train-dijs.ts: --ratio-head-pool takes features or logits, not "max" (--help lists the options)\n');
      const agrees = resume('--ratio-head-hidden', '0', '--ratio-head-pool', 'features', '--extra-ema-kimg', '1000', '--seed', '3', '--lr-d', '1e-5');
      expect(agrees.stderr).toBe('');
      expect(agrees.status).toBe(0);
      expect(agrees.stdout).toMatch(/--seed: only for a new run/);
      expect(agrees.stdout).toMatch(/resumed with these options from the command line: \{"lrD":0.00001\}/);
      // A branch (from the run just resumed, at 16 images) may turn flips on, and its first line says
      // so; a probability of 0.5 or more is refused.
      const flips = resume('--augment-flip', '0.2', '--kimg', '0.032');
      expect([flips.stderr, flips.status]).toEqual(['', 0]);
      expect(flips.stdout).toMatch(/, horizontal flips \(p 0.2\)/);
      expect(flips.stdout).toMatch(/resumed with these options from the command line: \{"augmentFlip":0.2\}/);
      // --reset-ratio starts the ratio network again from --teacher's encoder (here the tiny run's own);
      // the shipped teacher has another shape; without --resume there is nothing to reset.
      const reset = resume('--reset-ratio', '--teacher', join(dir, 'teacher.safetensors'), '--kimg', '0.048');
      expect([reset.stderr, reset.status]).toEqual(['', 0]);
      expect(reset.stdout).toMatch(/the ratio network starts again from .*teacher\.safetensors's encoder, with a new head and fresh Adam state; lr D's decay and lr G's warm-up \(--lr-g-warmup-kimg\) count from here, 0\.0\d* kimg/);
      expect(reset.stdout).not.toMatch(/--teacher: only for a new run/);
      const shipped = resume('--reset-ratio', '--kimg', '0.064');
      expect(shipped.status).toBe(1);
      expect(shipped.stderr).toMatch(/resetRatio's teacher has another network shape than this run's/);
      const fresh = run('train-dijs.ts', '--device', 'cpu', '--out', dir, '--reset-ratio');
      expect([fresh.stderr, fresh.status]).toEqual(["train-dijs.ts: --reset-ratio restarts a resumed run's ratio network: give --resume <checkpoint> too (--help lists the options)\n", 2]);
      const tooMany = resume('--augment-flip', '0.5');
      expect(tooMany.status).toBe(1);
      expect(tooMany.stderr).toMatch(/augmentFlip must be in \[0, 0.5\) \(0: off\), not 0.5/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('train-dijs.ts --verifier: measures the main EMA and keepBest\'s snapshot, each beside its plain FID and with a calibrated ratio network', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onestep-cli-'));
    try {
      await saveTinyRun(join(dir, 'checkpoint.safetensors'));
      const { status, stdout, stderr } = run('train-dijs.ts', '--device', 'cpu', '--resume', join(dir, 'checkpoint.safetensors'), '--data-limit', '16', '--out', dir,
        '--kimg', '0.032', '--grid-every-kimg', '0', '--eval-every-kimg', '0.016', '--eval-n', '64', '--keep-best', '--verifier', '2', '--sigma-verify', '0.1', '--verifier-calibrate-kimg', '0.016');
      expect(stderr).toBe('');
      expect(status).toBe(0);
      const fid = String.raw`FID \d+\.\d\d \(\d+\.\d\d without\), precision \d\.\d{3}, recall \d\.\d{3}`;
      expect(stdout).toMatch(new RegExp(`verifier sampling, k = 2, σ 0.1, the main EMA: ${fid}\n`));
      expect(stdout).toMatch(new RegExp(`verifier sampling, k = 2, σ 0.1, the best snapshot \\(0 kimg(, 1000 k EMA)?\\): ${fid}\n`));
      // Each again with a ratio network calibrated on that generator.
      expect(stdout.match(/\n {2}… with the ratio network calibrated on it for 0.016 kimg \(\d+ s\): FID \d+\.\d\d, precision \d\.\d{3}, recall \d\.\d{3}\n/g)).toHaveLength(2);
      // The main EMA's plain figure is its last evaluation's.
      const last = /one-step FID (\d+\.\d\d)/.exec(stdout)![1];
      expect(stdout).toMatch(new RegExp(`the main EMA: FID \\d+\\.\\d\\d \\(${last!.replace('.', '\\.')} without\\)`));
      // sample.ts makes the same calibrated verifier from the run's checkpoint.
      const sampled = run('sample.ts', '--device', 'cpu', '--generator', join(dir, 'generator.safetensors'), '--calibrate', join(dir, 'checkpoint.safetensors'),
        '--calibrate-kimg', '0.016', '--data-limit', '16', '--candidates', '2', '--n', '20', '--out', join(dir, 'x.png'));
      expect(sampled.stderr).toBe('');
      expect(sampled.stdout).toMatch(/^calibrating the ratio network on .*generator.safetensors: 0.016 of 0.016 kimg, \d+ s\n20 samples in .* \(2 candidates each, verifier\)\n/);
      // The arg-min of d instead of resampling, with the run's own ratio network; a bad T refused.
      const argMin = run('sample.ts', '--device', 'cpu', '--generator', join(dir, 'generator.safetensors'), '--ratio', join(dir, 'ratio.safetensors'),
        '--candidates', '2', '--verifier-temperature', '0', '--n', '20', '--out', join(dir, 'y.png'));
      expect([argMin.stderr, argMin.status]).toEqual(['', 0]);
      expect(argMin.stdout).toMatch(/^20 samples in .* \(2 candidates each, verifier at T 0\)\n/);
      const negative = run('sample.ts', '--device', 'cpu', '--generator', join(dir, 'generator.safetensors'), '--ratio', join(dir, 'ratio.safetensors'), '--candidates', '2', '--verifier-temperature=-1');
      expect(negative.status).toBe(1);
      expect(negative.stderr).toMatch(/verifierTemperature must be a finite number ≥ 0/);
      // The run's data set, or a clear refusal.
      const other = run('sample.ts', '--device', 'cpu', '--generator', join(dir, 'generator.safetensors'), '--calibrate', join(dir, 'checkpoint.safetensors'), '--candidates', '2');
      expect([other.status, other.stderr]).toEqual([1, "sample.ts: this checkpoint's run drew its batches from 16 images; the data set given has 60000: resume with the run's data set (the same split and limit) (ERR_INVALID_ARG_VALUE)\n"]);
      const both = run('sample.ts', '--generator', 'g', '--ratio', 'r', '--calibrate', 'c');
      expect([both.status, both.stderr]).toEqual([2, 'sample.ts: --ratio or --calibrate, not both: --calibrate makes the ratio network from the run (--help lists the options)\n']);
      // A bad calibration budget is refused before any training.
      const bad = run('train-dijs.ts', '--device', 'cpu', '--resume', join(dir, 'checkpoint.safetensors'), '--out', dir, '--verifier', '2', '--verifier-calibrate-kimg', 'lots');
      expect(bad.status).toBe(2);
      expect(bad.stderr).toBe('train-dijs.ts: --verifier-calibrate-kimg takes a number of kimg ≥ 0, not "lots" (--help lists the options)\n');
      const alone = run('train-dijs.ts', '--device', 'cpu', '--out', dir, '--verifier-calibrate-kimg', '10');
      expect(alone.status).toBe(2);
      expect(alone.stderr).toMatch(/give --verifier k > 1 too/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('an error onestep raises from the input: its message and code on one line, exit code 1', () => {
    const { status, stderr } = run('sample.ts', '--generator', '/no/such/generator.safetensors', '--device', 'cpu');
    expect(status).toBe(1);
    expect(stderr).toMatch(/^sample.ts: cannot open checkpoint '\/no\/such\/generator.safetensors': no such file \(ERR_IO\)\n$/);
  });

  it('every example answers --help', () => {
    for (const script of ['ablation-init.ts', 'evaluate.ts', 'quickstart.ts', 'sample.ts', 'train-classifier.ts', 'train-teacher.ts']) {
      const { status, stdout } = run(script, '--help');
      expect(status, script).toBe(0);
      expect(stdout, script).toMatch(/\noptions:\n {2}--/);
    }
  });
});
