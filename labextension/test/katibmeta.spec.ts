/**
 * The sweep dialog <-> Kale's katib_metadata, against the vectors `kale_like/sweep/space.py`
 * is tested with (tests/katib_space_vectors.json).
 */
import * as fs from 'fs';
import * as path from 'path';

import { choiceFromKatib, katibFromChoice, katibParameter, specFromKatib } from '../src/katibmeta';

interface IVector {
  type: string;
  spec: string;
  katib: { name: string; parameterType: string; feasibleSpace: { [key: string]: any } };
}

const vectors: IVector[] = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'tests', 'katib_space_vectors.json'), 'utf-8')
);

describe('katib_metadata vectors shared with space.py', () => {
  it('covers every kind of search space', () => {
    const kinds = new Set(vectors.map(v => v.spec.split(':')[0]));
    expect(kinds).toEqual(new Set(['choice', 'range', 'uniform', 'loguniform', 'int']));
  });

  it.each(vectors.map(v => [v.spec, v] as [string, IVector]))('%s', (_spec, v) => {
    expect(specFromKatib(v.katib)).toEqual([v.katib.name, v.spec]);
    expect(katibParameter(v.katib.name, v.spec, v.type)).toEqual(v.katib);
  });
});

describe('the dialog and the block', () => {
  const types = Object.fromEntries(vectors.map(v => [v.katib.name, v.type]));

  it('reads a Kale block into the dialog, Katib algorithm names included', () => {
    const choice = choiceFromKatib({
      parameters: [vectors[0].katib, vectors[3].katib, { name: 'broken' }],
      objective: { type: 'maximize', objectiveMetricName: 'accuracy', goal: 0.99 },
      algorithm: { algorithmName: 'bayesianoptimization' },
      maxTrialCount: 8,
      parallelTrialCount: 3
    });
    expect(choice).toEqual({
      params: { lr: 'loguniform:0.0001:0.1', n: 'range:2:10:4' },
      objective: 'accuracy',
      maximize: true,
      algorithm: 'tpe',
      trials: 8,
      parallel: 3
    });
    expect(choiceFromKatib(undefined)).toEqual({});
    expect(choiceFromKatib({ objective: { type: 'sideways' } })).toEqual({});
  });

  it('writes the block back, keeping the fields the dialog does not edit', () => {
    const previous = {
      objective: { type: 'minimize', objectiveMetricName: 'loss', goal: 0.99 },
      maxFailedTrialCount: 5,
      maxTrialCount: 20
    };
    const choice = {
      params: { depth: 'choice:3,5,8', scale: 'range:0.5:1.5:0.5' },
      objective: 'accuracy',
      maximize: true,
      algorithm: 'grid',
      trials: null,
      parallel: 2
    };
    expect(katibFromChoice(choice, types, previous)).toEqual({
      parameters: [vectors[5].katib, vectors[2].katib],
      objective: { type: 'maximize', objectiveMetricName: 'accuracy', goal: 0.99 },
      algorithm: { algorithmName: 'grid' },
      parallelTrialCount: 2,
      maxFailedTrialCount: 5
    });
    // and the dialog reads back what it wrote
    const again = choiceFromKatib(katibFromChoice({ ...choice, trials: 4 }, types, previous));
    expect(again).toEqual({ ...choice, trials: 4 });
  });
});
