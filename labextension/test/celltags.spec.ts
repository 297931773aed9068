/**
 * Cell roles <-> tags: what the cell editor writes is what the CLI reads.
 */
import { readRole, stepOfCells, stepsBefore, writeRole } from '../src/celltags';

describe('cell roles', () => {
  it('reads a step with prev and settings tags, keeping unknown tags', () => {
    const role = readRole(['step:train', 'prev:load', 'limit:memory:2Gi', 'hide-input']);
    expect(role).toEqual({
      kind: 'step',
      keyword: 'step',
      name: 'train',
      prev: ['load'],
      settings: ['limit:memory:2Gi'],
      other: ['hide-input']
    });
    expect(writeRole(role)).toEqual(['step:train', 'prev:load', 'limit:memory:2Gi', 'hide-input']);
  });

  it('reads Kale 0.x block tags and papermill parameters', () => {
    expect(readRole(['block:load']).name).toBe('load');
    expect(readRole(['parameters']).kind).toBe('parameters');
    expect(writeRole(readRole(['parameters']))).toEqual(['pipeline-parameters']);
  });

  it('keeps an invalid step name so the analysis can report it', () => {
    const role = readRole(['step:Bad-Name']);
    expect(role.kind).toBe('step');
    expect(writeRole(role)).toEqual(['step:Bad-Name']);
  });

  it('drops step-only tags when the cell is no longer a step', () => {
    const role = { ...readRole(['step:a', 'prev:b', 'image:python:3.11']), kind: 'skip' as const };
    expect(writeRole(role)).toEqual(['skip']);
  });

  it('lists earlier steps and the step of each cell', () => {
    const cells = [
      { type: 'code', tags: ['imports'] },
      { type: 'code', tags: ['step:a'] },
      { type: 'markdown', tags: [] },
      { type: 'code', tags: [] },
      { type: 'code', tags: ['step:b', 'prev:a'] }
    ];
    expect(stepsBefore(cells.map(c => c.tags), 4)).toEqual(['a']);
    expect(stepOfCells(cells)).toEqual([null, 'a', null, 'a', 'b']);
  });

  it('follows Kale: untagged cells join imports/functions, empty step tags continue', () => {
    const cells = [
      { type: 'code', tags: [] },
      { type: 'code', tags: ['imports'] },
      { type: 'code', tags: [] },
      { type: 'code', tags: ['block:a'] },
      { type: 'code', tags: ['block:'] },
      { type: 'code', tags: ['skip'] },
      { type: 'code', tags: [] },
      { type: 'code', tags: ['functions'] },
      { type: 'code', tags: ['step:'] }
    ];
    expect(stepOfCells(cells)).toEqual([null, null, null, 'a', 'a', null, 'a', null, null]);
    expect(stepOfCells([{ type: 'code', tags: [] }])).toEqual(['']);
  });

  it('keeps the block: spelling and empty step tags through a rewrite (Kale 0.7 and 2.3)', () => {
    const kale07 = readRole(['block:train', 'prev:load']);
    expect(writeRole({ ...kale07, name: 'fit' })).toEqual(['block:fit', 'prev:load']);
    expect(writeRole(readRole(['step:train']))).toEqual(['step:train']);
    for (const empty of ['block:', 'step:']) {
      const role = readRole([empty]);
      expect(role.kind).toBe('none');
      expect(writeRole(role)).toEqual([empty]);
      expect(writeRole({ ...role, kind: 'skip' })).toEqual(['skip']);
    }
    expect(writeRole({ ...readRole([]), kind: 'step', name: 'new' })).toEqual(['step:new']);
  });
});
