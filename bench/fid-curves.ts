/**
 * Compares DiJS runs' FID curves at equal images and at equal training time, from their kept
 * evaluation rows (bench/results/): prints each run's points and two tables, at the first run's
 * times and at its images, and writes two charts, FID against images and against minutes of
 * training. A lever that is ahead per image may still be behind per second (ratio steps 2, twentieth
 * session), so both are read.
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
 * `,card=H100` names the run's GPU: when the runs name different cards, their minutes are not
 * comparable (an H100 trains this step ~8 % slower than an H200, twenty-second session), so the
 * table and chart at equal time are left out.
 * Runs whose labels differ only in a last word `s<seed>` ("recipe s0", "recipe s1") are seeds of one
 * arm: both tables add the arm's mean, where all its seeds have a value (one run's spread is ~0.2 at
 * 5 M images, twenty-first session, so arms are compared by their means).
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
interface Run { label: string; points: Point[]; card?: string }

const ema = Number(args.ema);
if (!(ema > 0)) throw new UsageError(`--ema takes an EMA half-life in kimg, not "${args.ema}"`);

function readRows(path: string): { m: number; fid: number }[] {
  const text = readFileSync(path, 'utf8').trim();
  if (path.endsWith('.tsv')) return text.split('\n').slice(1).map((line) => { const [m, fid] = line.split('\t').map(Number); return { m: m!, fid: fid! }; });
  return text.split('\n').map((line) => JSON.parse(line) as { kimg: number; fid: number; extraEmas?: { halfLifeKimg: number; fid: number }[] })
    .map((r) => ({ m: r.kimg / 1000, fid: r.extraEmas?.find((e) => e.halfLifeKimg === ema)?.fid ?? r.fid }));
}

function parseRun(spec: string): Run {
  const match = /^(.+?)=(.+)@([\d.]+)((?:,(?:from|start)=[\d.]+|,card=[\w-]+)*)$/.exec(spec);
  if (!match) throw new UsageError(`a run is label=file@imagesPerSecond[,from=M][,start=S][,card=NAME], not "${spec}"`);
  const [, label, path, speed, extra] = match as unknown as [string, string, string, string, string];
  const options: Record<string, string> = Object.fromEntries(extra.split(',').filter(Boolean).map((kv) => kv.split('=')));
  const from = Number(options.from ?? 0), start = Number(options.start ?? 0);
  const points = readRows(path).filter((r) => r.m >= from - 1e-9)
    .map((r) => ({ ...r, minutes: (start + ((r.m - from) * 1e6) / Number(speed)) / 60 }));
  return { label, points, card: options.card };
}

/** A run's FID where its points' `x` (minutes or M images) is `at`, linear between its evaluations;
 * undefined outside them. */
function fidAt(run: Run, x: (p: Point) => number, at: number): number | undefined {
  const p = run.points;
  for (let i = 0; i + 1 < p.length; i++)
    if (x(p[i]!) <= at && at <= x(p[i + 1]!))
      return p[i]!.fid + ((p[i + 1]!.fid - p[i]!.fid) * (at - x(p[i]!))) / (x(p[i + 1]!) - x(p[i]!) || 1);
  return undefined;
}

/** The arms with two or more seeds: label without its last word `s<seed>` → its runs. */
function armsOf(runs: Run[]): Map<string, Run[]> {
  const arms = new Map<string, Run[]>();
  for (const run of runs) {
    const arm = run.label.replace(/ s\d+$/, '');
    if (arm !== run.label) arms.set(arm, [...(arms.get(arm) ?? []), run]);
  }
  return new Map([...arms].filter(([, seeds]) => seeds.length > 1));
}

/** A table of every run's FID (and each arm's mean) at the first run's points, by `x`. */
function printTable(runs: Run[], heading: string, column: string, x: (p: Point) => number) {
  const arms = armsOf(runs);
  const labels = [...runs.map((r) => r.label), ...[...arms.keys()].map((arm) => `mean ${arm}`)];
  console.log(`\n${heading} (FID linear between evaluations; – outside a run):\n| ${column} | ${labels.join(' | ')} |\n|${'---|'.repeat(labels.length + 1)}`);
  for (const point of runs[0]!.points) {
    const fids = runs.map((r) => fidAt(r, x, x(point)));
    const means = [...arms.values()].map((seeds) => {
      const values = seeds.map((r) => fidAt(r, x, x(point)));
      return values.every((v) => v !== undefined) ? values.reduce((a, b) => a! + b!, 0)! / values.length : undefined;
    });
    console.log(`| ${x(point).toFixed(x === minutesOf ? 1 : 2)} | ${[...fids, ...means].map((v) => v?.toFixed(2) ?? '–').join(' | ')} |`);
  }
}
const minutesOf = (p: Point) => p.minutes, imagesOf = (p: Point) => p.m;

if (positionals.length === 0) throw new UsageError('give at least one run: label=file@imagesPerSecond');
const runs = positionals.map(parseRun);
for (const run of runs) console.log(`${run.label}: ${run.points.map((p) => `${p.m.toFixed(2)} M / ${p.minutes.toFixed(1)} min ${p.fid.toFixed(2)}`).join(', ')}`);
const cards = new Set(runs.map((r) => r.card).filter(Boolean));
const sameCard = cards.size <= 1;
if (sameCard) printTable(runs, "at the first run's times", 'minutes', minutesOf);
else console.log(`\nno table or chart at equal time: the runs trained on different cards (${[...cards].join(', ')})`);
printTable(runs, "at the first run's images", 'M images', imagesOf);
if (args.out) {
  const chart = (file: string, what: string, xLabel: string, x: (p: Point) => number) =>
    saveCurves(file, { title: `${args.title}: FID (${ema} k EMA) against ${what}`, xLabel, yLabel: 'FID (yardstick)', logY: true,
      series: runs.map((r) => ({ name: r.label, points: r.points.map((p) => [x(p), p.fid] as [number, number]) })) });
  chart(`${args.out}-fid-images.svg`, 'images', 'M images', imagesOf);
  if (sameCard) chart(`${args.out}-fid-time.svg`, 'training time', 'minutes of training (evaluations included)', minutesOf);
  console.log(`\ncharts: ${args.out}-fid-images.svg${sameCard ? `, ${args.out}-fid-time.svg` : ''}`);
}
