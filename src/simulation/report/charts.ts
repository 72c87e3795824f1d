/**
 * Small inline SVG line charts (no library, no script): a report stays one self-contained file that
 * opens anywhere and diffs as text.
 */

export interface Series {
  name: string;
  points: Array<{ x: number; y: number }>;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  /** Fixed y range; defaults to the data's range. */
  yMin?: number;
  yMax?: number;
  width?: number;
  height?: number;
}

/** Colour-blind-safe palette (Okabe–Ito). */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);
}

function format(value: number): string {
  return Math.abs(value) >= 10 ? value.toFixed(0) : value.toFixed(2);
}

export function lineChart(series: readonly Series[], options: ChartOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 220;
  const margin = { left: 44, right: 150, top: 24, bottom: 30 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const all = series.flatMap((entry) => entry.points);
  const xs = all.map((point) => point.x);
  const ys = all.map((point) => point.y);
  const xMin = Math.min(0, ...xs);
  const xMax = Math.max(1, ...xs);
  let yMin = options.yMin ?? Math.min(...ys, 0);
  let yMax = options.yMax ?? Math.max(...ys, 1);
  if (yMax - yMin < 1e-9) {
    yMin -= 0.5;
    yMax += 0.5;
  }
  const x = (value: number): number => margin.left + ((value - xMin) / (xMax - xMin)) * plotWidth;
  const y = (value: number): number => margin.top + plotHeight - ((value - yMin) / (yMax - yMin)) * plotHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(options.title)}" font-family="sans-serif" font-size="11">`,
    `<text x="${margin.left}" y="15" font-size="13" font-weight="bold">${escapeXml(options.title)}</text>`,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#ccc"/>`,
  ];
  for (const tick of [yMin, (yMin + yMax) / 2, yMax]) {
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${margin.left - 4}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end">${format(tick)}</text>`);
  }
  if (yMin < 0 && yMax > 0)
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y(0).toFixed(1)}" y2="${y(0).toFixed(1)}" stroke="#999" stroke-dasharray="3 3"/>`);
  parts.push(`<text x="${margin.left}" y="${height - 8}">${format(xMin)}</text>`);
  parts.push(`<text x="${margin.left + plotWidth}" y="${height - 8}" text-anchor="end">${format(xMax)}</text>`);
  parts.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  series.forEach((entry, index) => {
    const colour = COLOURS[index % COLOURS.length]!;
    if (entry.points.length > 0) {
      const path = entry.points.map((point, at) => `${at === 0 ? 'M' : 'L'}${x(point.x).toFixed(1)},${y(point.y).toFixed(1)}`).join(' ');
      parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
      for (const point of entry.points) parts.push(`<circle cx="${x(point.x).toFixed(1)}" cy="${y(point.y).toFixed(1)}" r="2.5" fill="${colour}"/>`);
    }
    const legendY = margin.top + 12 + index * 16;
    parts.push(`<rect x="${margin.left + plotWidth + 10}" y="${legendY - 9}" width="10" height="10" fill="${colour}"/>`);
    parts.push(`<text x="${margin.left + plotWidth + 24}" y="${legendY}">${escapeXml(entry.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
