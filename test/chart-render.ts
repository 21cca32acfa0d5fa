// Renders an SVG chart to PNG with a real renderer (rsvg-convert, Debian's librsvg2-bin) and
// counts what it drew: inside the chart's canvas, and outside it. The canvas is padded on every
// side before rendering, so anything drawn beyond it (a legend cut off, a label off the edge)
// lands on the transparent padding, where it is counted.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePng, type Image } from './png';

/** Why the renderer cannot run here, or null when it can. */
export function rendererMissing(): string | null {
  const probe = spawnSync('rsvg-convert', ['--version'], { encoding: 'utf8' });
  return probe.status === 0 ? null : 'rsvg-convert is not installed (Debian: apt-get install librsvg2-bin)';
}

export interface Rendered {
  /** The chart's own canvas, as its root element declares it. */
  width: number;
  height: number;
  /** The padded rendering. */
  image: Image;
  /** Pixels inside the canvas that are not white. */
  inked: number;
  /** Pixels inside the canvas in colour (a series, a bar), not grey or black text and axes. */
  coloured: number;
  /** Pixels drawn outside the canvas (alpha > 0 on the padding). */
  outside: number;
  /** The PNG file, for looking at. */
  png: string;
}

const PAD = 200;
let dir: string | null = null;

export function renderSvg(svg: string, name: string): Rendered {
  const root = /^<svg [^>]*?width="([\d.]+)" height="([\d.]+)" viewBox="0 0 ([\d.]+) ([\d.]+)"/.exec(svg);
  if (!root) throw new Error(`${name}: the root <svg> has no width, height and viewBox "0 0 W H"`);
  const [width, height] = [Number(root[1]), Number(root[2])];
  if (Number(root[3]) !== width || Number(root[4]) !== height) throw new Error(`${name}: viewBox and size differ`);
  const padded = svg.replace(
    root[0],
    root[0]
      .replace(`width="${root[1]}"`, `width="${width + 2 * PAD}"`)
      .replace(`height="${root[2]}"`, `height="${height + 2 * PAD}"`)
      .replace(/viewBox="[^"]*"/, `viewBox="${-PAD} ${-PAD} ${width + 2 * PAD} ${height + 2 * PAD}"`),
  );
  dir ??= mkdtempSync(join(tmpdir(), 'kintsugi-charts-'));
  const base = join(dir, name.replace(/[^\w.-]+/g, '_'));
  writeFileSync(`${base}.svg`, padded);
  execFileSync('rsvg-convert', ['-o', `${base}.png`, `${base}.svg`]);
  const image = decodePng(readFileSync(`${base}.png`));
  let inked = 0;
  let coloured = 0;
  let outside = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const p = (y * image.width + x) * 4;
      const [r, g, b, a] = [image.rgba[p], image.rgba[p + 1], image.rgba[p + 2], image.rgba[p + 3]];
      const inCanvas = x >= PAD && x < PAD + width && y >= PAD && y < PAD + height;
      if (!inCanvas) {
        if (a > 0) outside++;
        continue;
      }
      if (a > 0 && (r < 245 || g < 245 || b < 245)) inked++;
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
    }
  }
  return { width, height, image, inked, coloured, outside, png: `${base}.png` };
}
