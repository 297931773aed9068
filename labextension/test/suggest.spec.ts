/**
 * suggest.ts: the tags land in one transaction (one undo step) and restoreTags puts the
 * old ones back, also for cells that had none.
 */
import { edgesOf } from '../src/dag';
import { applyTags, ITaggable, proposalAnalysis, restoreTags, summary } from '../src/suggesttags';

function fakeModel(tags: Array<string[] | null>): ITaggable & { transactions: number } {
  const cells = tags.map(t => {
    const meta: Record<string, unknown> = t ? { tags: t } : {};
    return {
      cell_type: 'code',
      getMetadata: (k: string) => meta[k],
      setMetadata: (k: string, v: unknown) => {
        meta[k] = v;
      },
      deleteMetadata: (k: string) => {
        delete meta[k];
      }
    };
  });
  const model = {
    cells,
    transactions: 0,
    transact(f: () => void) {
      model.transactions += 1;
      f();
    }
  };
  return model;
}

describe('suggest', () => {
  it('applies every tag in one transaction and restores the old ones', () => {
    const model = fakeModel([null, ['step:fixed'], null]);
    const before = applyTags(model, { '0': ['imports'], '2': ['step:train'] });
    expect(model.transactions).toBe(1);
    expect(model.cells[0].getMetadata('tags')).toEqual(['imports']);
    expect(model.cells[1].getMetadata('tags')).toEqual(['step:fixed']);
    expect(model.cells[2].getMetadata('tags')).toEqual(['step:train']);
    restoreTags(model, before);
    expect(model.transactions).toBe(2);
    expect(model.cells[0].getMetadata('tags')).toBeUndefined();
    expect(model.cells[2].getMetadata('tags')).toBeUndefined();
  });

  it('summarises steps, edges and the single-step reason', () => {
    const text = summary({
      steps: [{ name: 'main', cells: [0, 1], after: [], inputs: {}, seconds: 0.5 }],
      roles: { '0': 'imports' },
      tags: {},
      boundaries: [],
      notes: [],
      single_step: 'the notebook has a single cell of work',
      width: 1,
      serial_seconds: 0.5,
      critical_path_seconds: 0.8,
      timings: 'estimated'
    });
    expect(text).toContain('1. main  [cells 1, 2]');
    expect(text).toContain('one step only: the notebook has a single cell of work');
  });

  it('draws the proposal as the analysis of the tagged notebook would: steps and edges', () => {
    const analysis = proposalAnalysis({
      steps: [
        { name: 'load', cells: [1], after: [], inputs: {}, seconds: 0 },
        { name: 'fit', cells: [2], after: ['load'], inputs: { xs: 'load', ys: 'load' }, state: { random: 'load' }, seconds: 0 },
        { name: 'report', cells: [3], after: ['fit'], inputs: {}, seconds: 0 }
      ],
      roles: {},
      tags: {},
      boundaries: [],
      notes: [],
      single_step: null,
      width: 1,
      serial_seconds: 0,
      critical_path_seconds: 0,
      timings: 'estimated'
    });
    expect(analysis.steps.map(s => s.name)).toEqual(['load', 'fit', 'report']);
    expect(edgesOf(analysis)).toEqual([
      { from: 'load', to: 'fit', kind: 'data', variables: ['<random state>', 'xs', 'ys'] },
      { from: 'fit', to: 'report', kind: 'order', variables: [] }
    ]);
  });
});
