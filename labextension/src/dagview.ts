/**
 * The step graph on screen: an SVG of the dagre layout (steps coloured as in the notebook,
 * edges styled by kind with their variables where the layout put them, full text on hover)
 * inside a viewport with zoom, pan and fit (buttons, Ctrl+wheel, drag, keyboard).
 */
import { edgeText, ILayout, layout, smoothPath } from './dag';
import { h, s, stepColorAt } from './dom';
import { IAnalysis } from './tokens';

const KIND_TITLE: { [kind: string]: string } = {
  data: '',
  observed: ' (observed in a run)',
  file: ' (files)',
  order: ' (order only)'
};

/** The graph as an SVG element whose viewBox is the whole layout (CSS fits it). */
export function renderDag(analysis: IAnalysis, graph: ILayout = layout(analysis)): SVGSVGElement {
  const { width, height } = graph;
  const svg = s('svg', {
    class: 'kale-dag', viewBox: `0 0 ${Math.max(1, width)} ${Math.max(1, height)}`, role: 'img',
    'data-width': width, 'data-height': height, preserveAspectRatio: 'xMidYMin meet',
    style: `max-width:${Math.max(1, width)}px`,
    'aria-label': `Pipeline graph: ${analysis.steps.length} steps`
  }) as SVGSVGElement;
  const marker = (id: string, cls: string) =>
    s('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', class: cls }));
  svg.appendChild(s('defs', {},
    marker('kale-arrow', 'kale-dag-arrowhead'),
    marker('kale-arrow-observed', 'kale-dag-arrowhead kale-dag-arrowhead-observed'),
    marker('kale-arrow-file', 'kale-dag-arrowhead kale-dag-arrowhead-file')));
  for (const group of graph.groups) {
    svg.appendChild(s('g', { class: 'kale-dag-group', 'data-notebook': group.notebook },
      s('rect', { x: group.x, y: group.y, width: group.width, height: group.height, rx: 6 }),
      s('text', { x: group.x + 6, y: group.y - 3 }, group.notebook)));
  }
  for (const edge of graph.edges) {
    const text = edgeText(edge);
    const arrow = edge.kind === 'observed' || edge.kind === 'file' ? `kale-arrow-${edge.kind}` : 'kale-arrow';
    const title = `${edge.from} → ${edge.to}${text ? ': ' + text : ''}${KIND_TITLE[edge.kind]}`;
    svg.appendChild(s('g', {
      class: `kale-dag-edge kale-dag-edge-${edge.kind}` + (edge.kind === 'order' ? ' kale-dag-edge-control' : ''),
      'data-from': edge.from, 'data-to': edge.to, 'data-kind': edge.kind,
      'data-variables': edge.kind === 'file' ? '' : edge.variables.filter(v => !/^<.+ state>$/.test(v)).join(','),
      'data-files': edge.kind === 'file' ? edge.variables.join(',') : null,
      tabindex: 0, 'aria-label': title
    },
      s('title', {}, title),
      s('path', { d: smoothPath(edge.points), class: 'kale-dag-line', 'marker-end': `url(#${arrow})` }),
      // A wide invisible stroke: the thin edge is easy to hover.
      s('path', { d: smoothPath(edge.points), class: 'kale-dag-hit' }),
      edge.label
        ? s('g', { class: 'kale-dag-label-box' },
            s('rect', { x: edge.label.x - edge.label.width / 2, y: edge.label.y - 8, width: edge.label.width, height: 15, rx: 3 }),
            s('text', { x: edge.label.x, y: edge.label.y + 3.5, 'text-anchor': 'middle', class: 'kale-dag-label' },
              edge.label.text))
        : null));
  }
  for (const node of graph.nodes) {
    const step = analysis.steps[node.index];
    svg.appendChild(s('g', { class: 'kale-dag-node', 'data-step': node.name },
      s('title', {}, `${node.name}: cell${step.cells.length === 1 ? '' : 's'} ${step.cells.map(c => c + 1).join(', ')}; ` +
        `outputs ${step.outputs.join(', ') || 'none'}`),
      s('rect', { x: node.x, y: node.y, width: node.width, height: node.height, rx: 5, style: `stroke:${stepColorAt(node.index)}` }),
      s('text', { x: node.x + node.width / 2, y: node.y + node.height / 2 + 4, 'text-anchor': 'middle' }, node.text)));
  }
  return svg;
}

interface IView {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The graph in a zoomable, pannable viewport; keeps the user's zoom across re-renders. */
export class DagView {
  readonly node: HTMLDivElement;

  constructor() {
    this._viewport = h('div', {
      class: 'kale-dag-viewport', tabindex: 0, role: 'group',
      'aria-label': 'Pipeline graph: Ctrl+wheel or +/- to zoom, drag or arrow keys to pan, 0 to fit',
      onkeydown: (e: KeyboardEvent) => this._onKey(e),
      onwheel: (e: WheelEvent) => this._onWheel(e),
      onpointerdown: (e: PointerEvent) => this._onPointerDown(e)
    });
    const button = (label: string, text: string, action: () => void) =>
      h('button', { type: 'button', class: 'kale-dag-button', 'aria-label': label, title: label, onclick: action }, text);
    this._legend = h('div', { class: 'kale-dag-legend', 'aria-hidden': 'true' });
    this.node = h('div', { class: 'kale-dag-wrap' },
      h('div', { class: 'kale-dag-toolbar', role: 'toolbar', 'aria-label': 'Graph view' },
        button('Zoom in', '+', () => this.zoom(1.25)),
        button('Zoom out', '−', () => this.zoom(0.8)),
        button('Fit graph', 'Fit', () => this.fit()),
        this._legend),
      this._viewport);
  }

  /** Draw an analysis; `stale` greys it (the last good graph under an error). */
  show(analysis: IAnalysis, stale = false): void {
    const graph = layout(analysis);
    const svg = renderDag(analysis, graph);
    const markup = svg.outerHTML;
    this.node.classList.toggle('kale-dag-stale', stale);
    if (this._svg && markup === this._markup) {
      // The same graph again (a re-analysis that changed nothing): keep the element, so
      // hover, focus and anything holding it stay valid.
      return;
    }
    this._markup = markup;
    this._svg = svg;
    this._full = { x: 0, y: 0, w: Math.max(1, graph.width), h: Math.max(1, graph.height) };
    if (this._view && this._sameSize(graph)) {
      this._apply(); // keep the user's zoom while they edit
    } else {
      this._view = null;
    }
    this._viewport.replaceChildren(this._svg);
    this._apply();
    const kinds = new Set(graph.edges.map(e => e.kind));
    this._legend.replaceChildren(...[
      ['data', 'data'], ['observed', 'observed'], ['file', 'files'], ['order', 'order only']
    ].filter(([k]) => kinds.has(k as any)).map(([k, text]) =>
      h('span', { class: `kale-dag-key kale-dag-key-${k}` }, text)));
  }

  /** Zoom by `factor` around the centre of the current view. */
  zoom(factor: number): void {
    const v = this._view ?? { ...this._full };
    const w = Math.min(this._full.w * 4, Math.max(this._full.w / 8, v.w / factor));
    const hgt = (w / v.w) * v.h;
    this._view = { x: v.x + (v.w - w) / 2, y: v.y + (v.h - hgt) / 2, w, h: hgt };
    this._apply();
  }

  /** Show the whole graph in the panel's width. */
  fit(): void {
    this._view = null;
    this._apply();
  }

  pan(dx: number, dy: number): void {
    const v = this._view ?? { ...this._full };
    this._view = { ...v, x: v.x + dx, y: v.y + dy };
    this._apply();
  }

  private _sameSize(graph: ILayout): boolean {
    return Math.abs(graph.width - this._full.w) < 1 && Math.abs(graph.height - this._full.h) < 1;
  }

  private _apply(): void {
    if (!this._svg) {
      return;
    }
    const v = this._view;
    this._svg.setAttribute('viewBox', v ? `${v.x} ${v.y} ${v.w} ${v.h}` : `0 0 ${this._full.w} ${this._full.h}`);
    // Zoomed: the SVG keeps the box it had when fitted, and its content moves inside.
    this._svg.style.maxWidth = `${this._full.w}px`;
    this._svg.style.aspectRatio = `${this._full.w} / ${this._full.h}`;
    this._svg.dataset.zoomed = String(v !== null);
  }

  private _onKey(e: KeyboardEvent): void {
    const step = (this._view ?? this._full).w / 10;
    const keys: { [key: string]: () => void } = {
      '+': () => this.zoom(1.25), '=': () => this.zoom(1.25), '-': () => this.zoom(0.8), '0': () => this.fit(),
      ArrowLeft: () => this.pan(-step, 0), ArrowRight: () => this.pan(step, 0),
      ArrowUp: () => this.pan(0, -step), ArrowDown: () => this.pan(0, step)
    };
    if (keys[e.key]) {
      e.preventDefault();
      e.stopPropagation();
      keys[e.key]();
    }
  }

  private _onWheel(e: WheelEvent): void {
    if (!e.ctrlKey && !e.metaKey) {
      return; // plain wheel scrolls the panel
    }
    e.preventDefault();
    this.zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15);
  }

  private _onPointerDown(e: PointerEvent): void {
    if (!this._svg || e.button !== 0) {
      return;
    }
    const rect = this._svg.getBoundingClientRect();
    const v = this._view ?? { ...this._full };
    const scale = v.w / Math.max(1, rect.width);
    const [sx, sy, start] = [e.clientX, e.clientY, { ...v }];
    const move = (m: PointerEvent) => {
      this._view = { ...start, x: start.x - (m.clientX - sx) * scale, y: start.y - (m.clientY - sy) * scale };
      this._apply();
    };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  private _viewport: HTMLDivElement;
  private _legend: HTMLDivElement;
  private _svg: SVGSVGElement | null = null;
  /** The markup `renderDag` gave for the shown graph (before zoom changed its attributes). */
  private _markup = '';
  private _full: IView = { x: 0, y: 0, w: 1, h: 1 };
  private _view: IView | null = null;
}
