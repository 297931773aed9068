/**
 * The DAG: edges by kind (data, observed, file hand-offs, order only), dagre's layered
 * layout (edges skipping a level routed around the nodes between), and the SVG.
 */
import { edgesOf, layout, smoothPath } from '../src/dag';
import { DagView, renderDag } from '../src/dagview';
import { IAnalysis, IStepInfo } from '../src/tokens';

function step(name: string, after: string[], inputs: { [v: string]: string } = {}, extra: object = {}): IStepInfo {
  return { name, cells: [0], after, inputs, outputs: [], parameters: [], metrics: [], settings: {}, ...extra };
}

const analysis: IAnalysis = {
  pipeline: { name: 'p', parameters: {}, metrics: [] },
  steps: [
    step('load', []),
    step('clean', ['load'], { df: 'load' }),
    step('train', ['clean', 'load'], { y: 'clean', X: 'clean' }),
    step('report', ['train'])
  ],
  diagnostics: []
};

describe('DAG edges', () => {
  it('groups variables per producer and keeps order-only edges', () => {
    expect(edgesOf(analysis)).toEqual([
      { from: 'load', to: 'clean', kind: 'data', variables: ['df'] },
      { from: 'clean', to: 'train', kind: 'data', variables: ['X', 'y'] },
      { from: 'load', to: 'train', kind: 'order', variables: [] },
      { from: 'train', to: 'report', kind: 'order', variables: [] }
    ]);
  });

  it('tells observed variables, carried state and file hand-offs apart', () => {
    const a: IAnalysis = {
      ...analysis,
      steps: [
        step('a', []),
        step('b', ['a'], { x: 'a', rng: 'a' }, {
          observed: ['rng'], state: { random: 'a' }, observed_state: ['random'], file_inputs: { 'out.csv': 'a' }
        })
      ]
    };
    expect(edgesOf(a)).toEqual([
      { from: 'a', to: 'b', kind: 'data', variables: ['x'] },
      { from: 'a', to: 'b', kind: 'observed', variables: ['<random state>', 'rng'] },
      { from: 'a', to: 'b', kind: 'file', variables: ['out.csv'] }
    ]);
  });
});

describe('DAG layout', () => {
  const skip: IAnalysis = {
    ...analysis,
    steps: [
      step('a', []),
      step('b', ['a'], { xs: 'a' }),
      step('c', ['a', 'b'], { mean: 'a', stdev: 'a', counts: 'b' })
    ]
  };

  it('ranks steps below their predecessors', () => {
    const g = layout(skip);
    const y = Object.fromEntries(g.nodes.map(n => [n.name, n.y]));
    expect(y.a).toBeLessThan(y.b);
    expect(y.b).toBeLessThan(y.c);
  });

  it('routes an edge that skips a level around the node between', () => {
    const g = layout(skip);
    const b = g.nodes.find(n => n.name === 'b')!;
    const edge = g.edges.find(e => e.from === 'a' && e.to === 'c')!;
    expect(edge.points.length).toBeGreaterThan(2);
    for (const p of edge.points) {
      expect(p.x > b.x && p.x < b.x + b.width && p.y > b.y && p.y < b.y + b.height).toBe(false);
    }
  });

  it('places every label where no other label or node is', () => {
    const g = layout(skip);
    const boxes = g.edges.filter(e => e.label).map(e => ({ x: e.label!.x - e.label!.width / 2, y: e.label!.y - 7, width: e.label!.width, height: 14 }));
    const all = [...boxes, ...g.nodes];
    const overlap = (p: any, q: any) => p.x < q.x + q.width && q.x < p.x + p.width && p.y < q.y + q.height && q.y < p.y + p.height;
    boxes.forEach((p, i) => all.forEach((q, j) => i !== j && expect(overlap(p, q)).toBe(false)));
  });

  it('groups the steps of a composition by notebook', () => {
    const g = layout({ ...analysis, steps: [step('a', []), step('b', ['a'], {}, { notebook: 'sub.ipynb' })] });
    expect(g.groups.map(x => x.notebook).sort()).toEqual(['sub.ipynb', 'this notebook']);
    expect(layout(analysis).groups).toEqual([]);
  });

  it('survives a cycle (reported by the analysis, drawn as a column)', () => {
    const cyclic = { ...analysis, steps: [step('a', ['b']), step('b', ['a'])] };
    expect(() => renderDag(cyclic)).not.toThrow();
    expect(layout(cyclic).nodes).toHaveLength(2);
  });

  it('draws a smooth path through the routed points', () => {
    expect(smoothPath([{ x: 0, y: 0 }, { x: 0, y: 10 }])).toBe('M0,0L0,10');
    expect(smoothPath([{ x: 0, y: 0 }, { x: 5, y: 5 }, { x: 0, y: 10 }])).toMatch(/^M0,0L.*C.*L0,10$/);
  });
});

describe('DAG SVG', () => {
  it('renders nodes and labelled edges with escaped text, kinds as classes', () => {
    const svg = renderDag({ ...analysis, steps: [step('load', []), step('use', ['load'], { '<x>': 'load' }, { file_inputs: { 'a.txt': 'load' } })] });
    expect(svg.querySelectorAll('.kale-dag-node')).toHaveLength(2);
    const edge = svg.querySelector('.kale-dag-edge[data-from="load"][data-to="use"][data-kind="data"]')!;
    expect(edge.getAttribute('data-variables')).toBe('<x>');
    expect(edge.querySelector('text')!.textContent).toBe('<x>');
    expect(svg.querySelector('x')).toBeNull(); // text, never markup
    const file = svg.querySelector('.kale-dag-edge-file')!;
    expect(file.getAttribute('data-files')).toBe('a.txt');
    expect(file.querySelector('title')!.textContent).toBe('load → use: a.txt (files)');
  });

  it('numbers cells in tooltips as JupyterLab does (1-based)', () => {
    const svg = renderDag({ ...analysis, steps: [{ ...step('load', []), cells: [0, 2] }] });
    expect(svg.querySelector('.kale-dag-node title')!.textContent).toContain('cells 1, 3');
  });
});

describe('DagView', () => {
  it('keeps its SVG element when the same graph is shown again, replaces it when it changes', () => {
    const analysis = (names: string[]): IAnalysis => ({
      pipeline: { name: 'p', parameters: {}, metrics: [] },
      steps: names.map((name, i) => step(name, i ? [names[i - 1]] : [], i ? { x: names[i - 1] } : {})),
      diagnostics: []
    });
    const view = new DagView();
    view.show(analysis(['a', 'b']));
    const first = view.node.querySelector('svg.kale-dag');
    view.show(analysis(['a', 'b']));
    expect(view.node.querySelector('svg.kale-dag')).toBe(first);
    view.show(analysis(['a', 'b']), true);
    expect(view.node.querySelector('svg.kale-dag')).toBe(first);
    expect(view.node.classList.contains('kale-dag-stale')).toBe(true);
    view.show(analysis(['a', 'c']));
    expect(view.node.querySelector('svg.kale-dag')).not.toBe(first);
    expect(view.node.classList.contains('kale-dag-stale')).toBe(false);
  });
});
