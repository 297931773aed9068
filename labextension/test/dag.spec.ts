/**
 * The DAG drawing: edges carry the variables of the analysis; layers follow `after`.
 */
import { edgesOf, layers, renderDag } from '../src/dag';
import { IAnalysis, IStepInfo } from '../src/tokens';

function step(name: string, after: string[], inputs: { [v: string]: string } = {}): IStepInfo {
  return { name, cells: [0], after, inputs, outputs: [], parameters: [], metrics: [], settings: {} };
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

describe('DAG', () => {
  it('groups variables per producer and keeps order-only edges', () => {
    expect(edgesOf(analysis)).toEqual([
      { from: 'load', to: 'clean', variables: ['df'] },
      { from: 'clean', to: 'train', variables: ['X', 'y'] },
      { from: 'load', to: 'train', variables: [] },
      { from: 'train', to: 'report', variables: [] }
    ]);
  });

  it('puts each step one layer below its deepest predecessor', () => {
    expect(Object.fromEntries(layers(analysis))).toEqual({ load: 0, clean: 1, train: 2, report: 3 });
  });

  it('survives a cycle (reported by the analysis, drawn flat)', () => {
    const cyclic = { ...analysis, steps: [step('a', ['b']), step('b', ['a'])] };
    expect(() => renderDag(cyclic)).not.toThrow();
  });

  it('renders nodes and labelled edges with escaped text', () => {
    const svg = renderDag({ ...analysis, steps: [step('load', []), step('use', ['load'], { '<x>': 'load' })] });
    expect(svg.querySelectorAll('.kale-dag-node')).toHaveLength(2);
    const edge = svg.querySelector('.kale-dag-edge[data-from="load"][data-to="use"]')!;
    expect(edge.getAttribute('data-variables')).toBe('<x>');
    expect(edge.querySelector('text')!.textContent).toBe('<x>');
    expect(svg.querySelector('x')).toBeNull(); // text, never markup
  });
});
