/**
 * Self-contained HTML reports: tables and Chart.js charts, with Chart.js inlined so the report
 * renders offline from a file:// URL.
 */
import {writeFileSync} from 'node:fs';
import {vendorFile} from './vendor';

/** One series of a chart. Points are `{x, y}` for scatter/line-over-x charts, plain numbers otherwise. */
export interface ChartDataset {
  label: string;
  data: Array<number|{x: number; y: number}>;
  /** Draw points joined by a line (scatter charts). */
  showLine?: boolean;
}

/** A chart: Chart.js type, axis titles, category labels (bar/line charts) and datasets. */
export interface ChartSpec {
  title: string;
  type: 'line'|'bar'|'scatter';
  xLabel: string;
  yLabel: string;
  labels?: string[];
  datasets: ChartDataset[];
  logX?: boolean;
  logY?: boolean;
}

/** A report section: a heading, an optional note, an optional table, charts. */
export interface ReportSection {
  heading: string;
  note?: string;
  table?: {columns: string[]; rows: Array<Array<string|number>>};
  charts?: ChartSpec[];
}

const escapeHtml = (s: string) =>
    s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

function chartConfig(spec: ChartSpec): object {
  return {
    type: spec.type,
    data: {
      labels: spec.labels,
      datasets: spec.datasets.map((d, i) => ({
        label: d.label, data: d.data, showLine: d.showLine, borderColor: PALETTE[i % PALETTE.length],
        backgroundColor: PALETTE[i % PALETTE.length], fill: false, tension: 0, pointRadius: 3,
      })),
    },
    options: {
      animation: false,
      responsive: false,
      plugins: {title: {display: true, text: spec.title}},
      scales: {
        x: {type: spec.logX ? 'logarithmic' : spec.type === 'scatter' ? 'linear' : 'category',
            title: {display: true, text: spec.xLabel}},
        y: {type: spec.logY ? 'logarithmic' : 'linear', title: {display: true, text: spec.yLabel}},
      },
    },
  };
}

/** Renders the report as one HTML string. */
function renderReport(title: string, sections: ReportSection[]): string {
  const charts: object[] = [];
  const body = sections.map(section => {
    const parts = [`<h2>${escapeHtml(section.heading)}</h2>`];
    if (section.note) parts.push(`<p>${escapeHtml(section.note)}</p>`);
    if (section.table) {
      const head = section.table.columns.map(c => `<th>${escapeHtml(c)}</th>`).join('');
      const rows = section.table.rows.map(r => `<tr>${r.map(v => `<td>${escapeHtml(String(v))}</td>`).join('')}</tr>`);
      parts.push(`<table><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>`);
    }
    for (const spec of section.charts ?? []) {
      parts.push(`<canvas id="chart${charts.length}" width="720" height="360"></canvas>`);
      charts.push(chartConfig(spec));
    }
    return `<section>${parts.join('\n')}</section>`;
  }).join('\n');
  const data = JSON.stringify(charts).replace(/</g, '\\u003c');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}canvas{display:block;margin:1em 0}</style>
<script>${vendorFile('chart.js', 'chart.umd.min.js').toString('utf8')}</script></head>
<body><h1>${escapeHtml(title)}</h1>
${body}
<script>const configs = ${data};
configs.forEach((c, i) => new Chart(document.getElementById('chart' + i), c));
document.body.dataset.chartsRendered = String(configs.length);</script>
</body></html>
`;
}

/** Writes the report to `path`. */
export function writeReport(path: string, title: string, sections: ReportSection[]): void {
  writeFileSync(path, renderReport(title, sections));
}
