/**
 * The step graph as a small SVG: steps in layers (longest path from the roots), edges
 * labelled with the variables they carry; explicit `prev:` edges without data are dashed.
 */
import { s, stepColorAt } from './dom';
import { IAnalysis } from './tokens';

export interface IEdge {
  from: string;
  to: string;
  variables: string[];
}

/** Edges of the analysis: one per (producer, consumer), with its variables sorted. */
export function edgesOf(analysis: IAnalysis): IEdge[] {
  const edges: IEdge[] = [];
  for (const step of analysis.steps) {
    const byProducer = new Map<string, string[]>();
    for (const producer of step.after) {
      byProducer.set(producer, []);
    }
    for (const [variable, producer] of Object.entries(step.inputs)) {
      byProducer.set(producer, [...(byProducer.get(producer) ?? []), variable]);
    }
    for (const [from, variables] of byProducer) {
      edges.push({ from, to: step.name, variables: variables.sort() });
    }
  }
  return edges;
}

/** Layer of every step: 0 for roots, else 1 + the deepest predecessor. */
export function layers(analysis: IAnalysis): Map<string, number> {
  const depth = new Map<string, number>();
  const after = new Map(analysis.steps.map(st => [st.name, st.after]));
  const visit = (name: string, seen: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) {
      return known;
    }
    if (seen.has(name)) {
      return 0; // a cycle: the analysis reports it; draw it flat
    }
    seen.add(name);
    const preds = (after.get(name) ?? []).filter(p => after.has(p));
    const d = preds.length ? 1 + Math.max(...preds.map(p => visit(p, seen))) : 0;
    depth.set(name, d);
    return d;
  };
  analysis.steps.forEach(st => visit(st.name, new Set()));
  return depth;
}

const W = 112;
const H = 26;
const GAP_X = 18;
const GAP_Y = 46;

export function renderDag(analysis: IAnalysis): SVGElement {
  const depth = layers(analysis);
  const rows: string[][] = [];
  for (const st of analysis.steps) {
    const d = depth.get(st.name) ?? 0;
    (rows[d] = rows[d] ?? []).push(st.name);
  }
  const widest = Math.max(1, ...rows.map(r => r.length));
  // Room for the edge labels right of a single column.
  const width = Math.max(250, widest * (W + GAP_X) + GAP_X);
  const height = Math.max(1, rows.length) * (H + GAP_Y) + 4;
  const pos = new Map<string, { x: number; y: number }>();
  rows.forEach((row, r) => {
    const offset = (width - row.length * (W + GAP_X) + GAP_X) / 2;
    row.forEach((name, i) => pos.set(name, { x: offset + i * (W + GAP_X), y: 8 + r * (H + GAP_Y) }));
  });
  const svg = s('svg', {
    class: 'kale-dag', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `Pipeline graph: ${analysis.steps.length} steps`
  });
  svg.appendChild(
    s('defs', {},
      s('marker', { id: 'kale-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto' },
        s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'kale-dag-arrowhead' })))
  );
  for (const edge of edgesOf(analysis)) {
    const a = pos.get(edge.from);
    const b = pos.get(edge.to);
    if (!a || !b) {
      continue;
    }
    const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y;
    const label = edge.variables.join(', ');
    const short = label.length > 22 ? label.slice(0, 21) + '…' : label;
    svg.appendChild(
      s('g', {
        class: 'kale-dag-edge' + (edge.variables.length ? '' : ' kale-dag-edge-control'),
        'data-from': edge.from, 'data-to': edge.to, 'data-variables': edge.variables.join(',')
      },
        s('title', {}, `${edge.from} → ${edge.to}${label ? ': ' + label : ' (order only)'}`),
        s('line', { x1, y1, x2, y2, 'marker-end': 'url(#kale-arrow)' }),
        short ? s('text', { x: (x1 + x2) / 2 + 4, y: (y1 + y2) / 2 + 4, class: 'kale-dag-label' }, short) : null
      )
    );
  }
  analysis.steps.forEach((st, index) => {
    const p = pos.get(st.name)!;
    svg.appendChild(
      s('g', { class: 'kale-dag-node', 'data-step': st.name },
        s('title', {}, `${st.name}: cells ${st.cells.join(', ')}; outputs ${st.outputs.join(', ') || 'none'}`),
        s('rect', { x: p.x, y: p.y, width: W, height: H, rx: 5, style: `stroke:${stepColorAt(index)}` }),
        s('text', { x: p.x + W / 2, y: p.y + H / 2 + 4, 'text-anchor': 'middle' },
          st.name.length > 15 ? st.name.slice(0, 14) + '…' : st.name)
      )
    );
  });
  return svg;
}
