/**
 * Compares DiJS runs' FID curves at equal images and at equal training time, from their kept
 * evaluation rows (bench/results/): prints each run's points and a table at the first run's times,
 * and writes two charts, FID against images and against minutes of training. A lever that is ahead
 * per image may still be behind per second (ratio steps 2, twentieth session), so both are read.
 *
 *   npx tsx bench/fid-curves.ts --ema 1000 --out docs/results/dijs-v4-ratio-steps \
 *     'recipe s0=bench/results/eighteenth-session/pooled-seed0.fid1000k.tsv@4150' \
 *     'ratio steps 2 s0=bench/results/twentieth-session/ratio-steps2-seed0.fid.jsonl@2770' \
 *     'to 1 at 2.53 M=bench/results/twentieth-session/ratio-steps2-seed1-to1-at2.5M.fid.jsonl@4130,from=2.53,start=918'
 *
 * Each run: `label=file@speed`, speed in images per second of training (evaluations included: the
 * runs' `done:` lines), optionally `,from=M` (only rows from M million images on: a branch, whose log
 * begins with its parent's) and `,start=S` (the seconds of training at `from`: the parent's). Files:
 * `.fid.jsonl` (the `"fid"` rows of a run's log.jsonl; the EMA of --ema, or the main one when it is
 * not among the extra EMAs) or `.tsv` (M images, FID: a curve read back from a chart).
 */
import { readFileSync } from 'node:fs';
import { saveCurves } from '../src/index.js';
import { commandLine, UsageError } from '../examples/command-line.js';

const { values: args, positionals } = commandLine(import.meta.url, {
  allowPositionals: true,
  options: {
    // The EMA half-life (kimg) whose FID is read from .fid.jsonl rows.
    ema: { type: 'string', default: '1000' },
    // Path prefix of the two charts (<out>-fid-images.svg, <out>-fid-time.svg); none: print only.
    out: { type: 'string' },
    // The charts' title, after "FID against images" / "training time".
    title: { type: 'string', default: 'DiJS, one GPU per run' },
  },
});

interface Point { m: number; fid: number; minutes: number }
interface Run { label: string; points: Point[] }

const ema = Number(args.ema);
if (!(ema > 0)) throw new UsageError(`--ema takes an EMA half-life in kimg, not "${args.ema}"`);

function readRows(path: string): { m: number; fid: number }[] {
  const text = readFileSync(path, 'utf8').trim();
  if (path.endsWith('.tsv')) return text.split('\n').slice(1).map((line) => { const [m, fid] = line.split('\t').map(Number); return { m: m!, fid: fid! }; });
  return text.split('\n').map((line) => JSON.parse(line) as { kimg: number; fid: number; extraEmas?: { halfLifeKimg: number; fid: number }[] })
    .map((r) => ({ m: r.kimg / 1000, fid: r.extraEmas?.find((e) => e.halfLifeKimg === ema)?.fid ?? r.fid }));
}

function parseRun(spec: string): Run {
  const match = /^(.+?)=(.+)@([\d.]+)((?:,(?:from|start)=[\d.]+)*)$/.exec(spec);
  if (!match) throw new UsageError(`a run is label=file@imagesPerSecond[,from=M][,start=S], not "${spec}"`);
  const [, label, path, speed, extra] = match as unknown as [string, string, string, string, string];
  const options = Object.fromEntries(extra.split(',').filter(Boolean).map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
  const from = options.from ?? 0, start = options.start ?? 0;
  const points = readRows(path).filter((r) => r.m >= from - 1e-9)
    .map((r) => ({ ...r, minutes: (start + ((r.m - from) * 1e6) / Number(speed)) / 60 }));
  return { label, points };
}

/** A run's FID at `minutes`, linear between its evaluations; undefined outside them. */
function fidAt(run: Run, minutes: number): number | undefined {
  const p = run.points;
  for (let i = 0; i + 1 < p.length; i++)
    if (p[i]!.minutes <= minutes && minutes <= p[i + 1]!.minutes)
      return p[i]!.fid + ((p[i + 1]!.fid - p[i]!.fid) * (minutes - p[i]!.minutes)) / (p[i + 1]!.minutes - p[i]!.minutes || 1);
  return undefined;
}

if (positionals.length === 0) throw new UsageError('give at least one run: label=file@imagesPerSecond');
const runs = positionals.map(parseRun);
for (const run of runs) console.log(`${run.label}: ${run.points.map((p) => `${p.m.toFixed(2)} M / ${p.minutes.toFixed(1)} min ${p.fid.toFixed(2)}`).join(', ')}`);
console.log(`\nat the first run's times (FID linear between evaluations; – outside a run):\n| minutes | ${runs.map((r) => r.label).join(' | ')} |\n|${'---|'.repeat(runs.length + 1)}`);
for (const { minutes } of runs[0]!.points)
  console.log(`| ${minutes.toFixed(1)} | ${runs.map((r) => fidAt(r, minutes)?.toFixed(2) ?? '–').join(' | ')} |`);
if (args.out) {
  const chart = (file: string, what: string, xLabel: string, x: (p: Point) => number) =>
    saveCurves(file, { title: `${args.title}: FID (${ema} k EMA) against ${what}`, xLabel, yLabel: 'FID (yardstick)', logY: true,
      series: runs.map((r) => ({ name: r.label, points: r.points.map((p) => [x(p), p.fid] as [number, number]) })) });
  chart(`${args.out}-fid-images.svg`, 'images', 'M images', (p) => p.m);
  chart(`${args.out}-fid-time.svg`, 'training time', 'minutes of training (evaluations included)', (p) => p.minutes);
  console.log(`\ncharts: ${args.out}-fid-images.svg, ${args.out}-fid-time.svg`);
}
