/**
 * Training curves as SVG line charts: text labels and vector lines with no plotting dependency,
 * viewable in any browser and on GitHub. Written atomically.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { typeError } from '../errors.js';

export interface CurveSeries {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface CurveChart {
  title: string;
  xLabel: string;
  yLabel?: string;
  series: readonly CurveSeries[];
  /** Logarithmic y axis (positive values only). */
  logY?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const W = 640, H = 400, LEFT = 64, RIGHT = 150, TOP = 36, BOTTOM = 48;

function ticks(lo: number, hi: number, count = 5): number[] {
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const label = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4))));

/** The chart as SVG text. */
export function renderCurves(chart: CurveChart): string {
  const all = chart.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!chart.logY || y > 0));
  if (!all.length) throw typeError(`chart '${chart.title}' has no finite points`);
  const fy = (y: number) => (chart.logY ? Math.log10(y) : y);
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => fy(p[1]))), Math.max(...all.map((p) => fy(p[1])))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad; y1 += pad;
  const sx = (x: number) => LEFT + ((x - x0) / (x1 - x0)) * (W - LEFT - RIGHT);
  const sy = (y: number) => H - BOTTOM - ((fy(y) - y0) / (y1 - y0)) * (H - TOP - BOTTOM);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - RIGHT / 2}" y="20" text-anchor="middle" font-size="14">${escape(chart.title)}</text>`,
    `<text x="${LEFT + (W - LEFT - RIGHT) / 2}" y="${H - 10}" text-anchor="middle">${escape(chart.xLabel)}</text>`,
  ];
  if (chart.yLabel) parts.push(`<text transform="translate(14 ${TOP + (H - TOP - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">${escape(chart.yLabel)}</text>`);
  for (const t of ticks(x0, x1)) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${TOP}" y2="${H - BOTTOM}" stroke="#eee"/>`,
      `<text x="${sx(t)}" y="${H - BOTTOM + 16}" text-anchor="middle">${label(t)}</text>`);
  }
  const yTicks = chart.logY ? ticks(Math.floor(y0), Math.ceil(y1)).filter((t) => Number.isInteger(t) && t >= y0 && t <= y1).map((t) => 10 ** t) : ticks(y0, y1);
  for (const t of yTicks) {
    parts.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`,
      `<text x="${LEFT - 6}" y="${sy(t) + 4}" text-anchor="end">${label(t)}</text>`);
  }
  parts.push(`<rect x="${LEFT}" y="${TOP}" width="${W - LEFT - RIGHT}" height="${H - TOP - BOTTOM}" fill="none" stroke="#333"/>`);
  chart.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!chart.logY || y > 0));
    if (pts.length) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    if (pts.length < 30) for (const [x, y] of pts) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    parts.push(`<line x1="${W - RIGHT + 12}" x2="${W - RIGHT + 32}" y1="${TOP + 10 + i * 18}" y2="${TOP + 10 + i * 18}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${W - RIGHT + 38}" y="${TOP + 14 + i * 18}">${escape(s.name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Writes the chart to `path` (.svg), atomically. */
export function saveCurves(path: string, chart: CurveChart): void {
  const svg = renderCurves(chart);
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, svg);
  renameSync(temporary, path);
}
