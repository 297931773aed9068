/**
 * The step graph, pure: the edges of an analysis (data, observed, file hand-offs, order
 * only) and their layered layout by dagre (node positions, routed edge paths, label places).
 */
import * as dagre from '@dagrejs/dagre';

import { IAnalysis, IStepInfo } from './tokens';

/**
 * `data`: variables (and carried global state) the analysis found; `observed`: variables a
 * local run saw the producer write although the analysis did not; `file`: files written by
 * one step and read by a later one; `order`: an explicit `prev:` edge carrying nothing.
 */
export type EdgeKind = 'data' | 'observed' | 'file' | 'order';

export interface IEdge {
  from: string;
  to: string;
  kind: EdgeKind;
  /** Variable names, `<KIND state>` items, or file paths (for `file` edges), sorted. */
  variables: string[];
}

/** Fields of the analyze JSON the graph reads that older servers may not send. */
interface IStepExtras {
  state?: { [kind: string]: string };
  observed?: string[];
  observed_state?: string[];
  file_inputs?: { [path: string]: string };
  notebook?: string;
}

const KIND_ORDER: EdgeKind[] = ['data', 'observed', 'file', 'order'];

/** Edges of the analysis: one per (producer, consumer, kind), labels sorted. */
export function edgesOf(analysis: IAnalysis): IEdge[] {
  const edges: IEdge[] = [];
  for (const step of analysis.steps) {
    const extra = step as IStepInfo & IStepExtras;
    const observed = new Set([...(extra.observed ?? []), ...(extra.observed_state ?? []).map(k => `<${k} state>`)]);
    const byProducer = new Map<string, Map<EdgeKind, string[]>>();
    const add = (producer: string, kind: EdgeKind, label: string) => {
      const kinds = byProducer.get(producer) ?? new Map<EdgeKind, string[]>();
      kinds.set(kind, [...(kinds.get(kind) ?? []), label]);
      byProducer.set(producer, kinds);
    };
    for (const [variable, producer] of Object.entries(step.inputs)) {
      add(producer, observed.has(variable) ? 'observed' : 'data', variable);
    }
    for (const [kind, producer] of Object.entries(extra.state ?? {})) {
      const label = `<${kind} state>`;
      add(producer, observed.has(label) ? 'observed' : 'data', label);
    }
    for (const [path, producer] of Object.entries(extra.file_inputs ?? {})) {
      add(producer, 'file', path);
    }
    for (const producer of step.after) {
      if (!byProducer.has(producer)) {
        byProducer.set(producer, new Map([['order', []]]));
      }
    }
    for (const [from, kinds] of byProducer) {
      for (const kind of KIND_ORDER) {
        const labels = kinds.get(kind);
        if (labels) {
          edges.push({ from, to: step.name, kind, variables: [...labels].sort() });
        }
      }
    }
  }
  return edges;
}

export interface IPoint {
  x: number;
  y: number;
}

export interface INodeBox extends IPoint {
  name: string;
  /** Position of the step in the analysis (its colour). */
  index: number;
  width: number;
  height: number;
  text: string;
}

export interface IEdgePath extends IEdge {
  points: IPoint[];
  /** Where the layout put the label (centre), with the text shown there. */
  label: (IPoint & { text: string; width: number }) | null;
}

export interface IGroupBox extends IPoint {
  notebook: string;
  width: number;
  height: number;
}

export interface ILayout {
  width: number;
  height: number;
  nodes: INodeBox[];
  edges: IEdgePath[];
  /** Composition: one box per notebook (only when steps come from several notebooks). */
  groups: IGroupBox[];
}

const CHAR = 7; // px per character at the node font size (monospace-ish estimate)
const LABEL_CHAR = 6.2;
const NODE_H = 30;
const MAX_NODE_TEXT = 22;
const MAX_LABEL_TEXT = 30;

/** `text` cut to `max` characters with an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

/** The text of an edge label (file edges name the files). */
export function edgeText(edge: IEdge): string {
  return edge.variables.join(', ');
}

/** The notebook a step's cells are in ('' for the main notebook). */
export function notebookOf(step: IStepInfo): string {
  return (step as IStepInfo & IStepExtras).notebook ?? '';
}

/** Lay the graph out top to bottom with dagre: ranks, crossing reduction, routed edges. */
export function layout(analysis: IAnalysis): ILayout {
  const g = new dagre.graphlib.Graph({ multigraph: true, compound: true });
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 36, edgesep: 12, marginx: 12, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = new Set(analysis.steps.map(st => st.name));
  const notebooks = Array.from(new Set(analysis.steps.map(notebookOf)));
  const grouped = notebooks.length > 1;
  if (grouped) {
    for (const nb of notebooks) {
      g.setNode(`nb:${nb}`, { label: nb || 'this notebook' });
    }
  }
  analysis.steps.forEach(st => {
    const text = clip(st.name, MAX_NODE_TEXT);
    g.setNode(st.name, { width: Math.max(72, text.length * CHAR + 20), height: NODE_H, text });
    if (grouped) {
      g.setParent(st.name, `nb:${notebookOf(st)}`);
    }
  });
  const edges = edgesOf(analysis).filter(e => names.has(e.from) && names.has(e.to) && e.from !== e.to);
  edges.forEach((edge, i) => {
    const text = clip(edgeText(edge), MAX_LABEL_TEXT);
    g.setEdge(edge.from, edge.to, text
      ? { width: text.length * LABEL_CHAR + 8, height: 14, labelpos: 'c', text }
      : { width: 0, height: 0, text }, `e${i}`);
  });
  try {
    dagre.layout(g);
  } catch (reason) {
    // A cycle the analysis reports anyway: lay the steps out in a column instead.
    return columnLayout(analysis, edges);
  }
  const nodes: INodeBox[] = analysis.steps.map((st, index) => {
    const n = g.node(st.name) as any;
    return { name: st.name, index, x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, text: n.text };
  });
  const paths: IEdgePath[] = edges.map((edge, i) => {
    const e = g.edge(edge.from, edge.to, `e${i}`) as any;
    const label = e.text ? { x: e.x, y: e.y, text: e.text as string, width: e.width as number } : null;
    return { ...edge, points: (e.points ?? []).map((p: IPoint) => ({ x: p.x, y: p.y })), label };
  });
  const groups: IGroupBox[] = grouped
    ? notebooks.map(nb => {
        const n = g.node(`nb:${nb}`) as any;
        return { notebook: nb || 'this notebook', x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height };
      })
    : [];
  const graph = g.graph() as any;
  return { width: Math.ceil(graph.width ?? 0), height: Math.ceil(graph.height ?? 0), nodes, edges: paths, groups };
}

/** Fallback for graphs dagre refuses (cycles): one column in notebook order, straight edges. */
function columnLayout(analysis: IAnalysis, edges: IEdge[]): ILayout {
  const nodes: INodeBox[] = analysis.steps.map((st, index) => {
    const text = clip(st.name, MAX_NODE_TEXT);
    return { name: st.name, index, x: 12, y: 16 + index * (NODE_H + 36), width: Math.max(72, text.length * CHAR + 20), height: NODE_H, text };
  });
  const at = new Map(nodes.map(n => [n.name, n]));
  const paths: IEdgePath[] = edges.map(edge => {
    const a = at.get(edge.from)!;
    const b = at.get(edge.to)!;
    return { ...edge, points: [{ x: a.x + a.width / 2, y: a.y + a.height }, { x: b.x + b.width / 2, y: b.y }], label: null };
  });
  const width = 24 + Math.max(72, ...nodes.map(n => n.width));
  return { width, height: 32 + nodes.length * (NODE_H + 36), nodes, edges: paths, groups: [] };
}

/** An SVG path through the routed points, smoothed as a uniform B-spline (d3's curveBasis). */
export function smoothPath(points: IPoint[]): string {
  const f = (n: number) => Math.round(n * 10) / 10;
  if (points.length < 3) {
    return points.map((p, i) => `${i ? 'L' : 'M'}${f(p.x)},${f(p.y)}`).join('');
  }
  let [x0, y0, x1, y1] = [points[0].x, points[0].y, points[1].x, points[1].y];
  let d = `M${f(x0)},${f(y0)}L${f((5 * x0 + x1) / 6)},${f((5 * y0 + y1) / 6)}`;
  const segment = (x: number, y: number) => {
    d += `C${f((2 * x0 + x1) / 3)},${f((2 * y0 + y1) / 3)} ${f((x0 + 2 * x1) / 3)},${f((y0 + 2 * y1) / 3)} ` +
      `${f((x0 + 4 * x1 + x) / 6)},${f((y0 + 4 * y1 + y) / 6)}`;
    [x0, y0, x1, y1] = [x1, y1, x, y];
  };
  for (const p of points.slice(2)) {
    segment(p.x, p.y);
  }
  segment(x1, y1);
  return d + `L${f(x1)},${f(y1)}`;
}
