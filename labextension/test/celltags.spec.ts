/**
 * Cell roles <-> tags: what the cell editor writes is what the CLI reads.
 */
import { readRole, stepOfCells, stepsBefore, writeRole } from '../src/celltags';

describe('cell roles', () => {
  it('reads a step with prev and settings tags, keeping unknown tags', () => {
    const role = readRole(['step:train', 'prev:load', 'limit:memory:2Gi', 'hide-input']);
    expect(role).toEqual({
      kind: 'step',
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
});
