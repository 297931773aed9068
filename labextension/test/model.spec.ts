/**
 * model.ts: edits are debounced into one analysis; an answer that arrives after a newer
 * request (or after the user switched notebooks) is dropped; errors become cell diagnostics.
 */
jest.mock('../src/request', () => ({ ...jest.requireActual('../src/request'), postAPI: jest.fn() }));

import { diagnosticsByCell, KaleModel, toErrorBody } from '../src/model';
import { KaleRequestError, postAPI } from '../src/request';
import { analysis, deferred, fakePanel, fakeTracker, flush } from './fakes';

const post = postAPI as jest.MockedFunction<typeof postAPI>;

beforeEach(() => {
  post.mockReset();
  jest.useFakeTimers();
});
afterEach(() => jest.useRealTimers());

async function openModel(debounceMs = 200) {
  const tracker = fakeTracker();
  const panel = fakePanel('a.ipynb');
  post.mockResolvedValue(analysis('first'));
  tracker.show(panel);
  const model = new KaleModel(tracker as any, { debounceMs });
  await flush(); // context.ready -> the first analysis
  expect(post).toHaveBeenCalledTimes(1);
  post.mockReset();
  return { tracker, panel, model };
}

describe('KaleModel', () => {
  it('analyses once after a burst of edits, when the debounce delay has passed', async () => {
    const { panel, model } = await openModel(200);
    post.mockResolvedValue(analysis('load', 'report'));
    for (let i = 0; i < 5; i++) {
      panel.edit();
      jest.advanceTimersByTime(100); // each edit comes before the delay ends
    }
    expect(post).not.toHaveBeenCalled();
    jest.advanceTimersByTime(200);
    await flush();
    expect(post).toHaveBeenCalledTimes(1);
    expect(post.mock.calls[0][0]).toBe('analyze');
    expect((post.mock.calls[0][1] as any).path).toBe('a.ipynb');
    expect(model.state.analysis?.steps.map(s => s.name)).toEqual(['load', 'report']);
    expect(model.state.pending).toBe(false);
  });

  it('drops an answer that arrives after a newer request was sent', async () => {
    const { model } = await openModel();
    const slow = deferred<any>();
    const fast = deferred<any>();
    post.mockReturnValueOnce(slow.promise).mockReturnValueOnce(fast.promise);
    const first = model.refresh();
    const second = model.refresh();
    fast.resolve(analysis('new'));
    await second;
    expect(model.state.analysis?.steps[0].name).toBe('new');
    slow.resolve(analysis('old')); // the stale answer comes last
    await first;
    expect(model.state.analysis?.steps[0].name).toBe('new');
  });

  it('drops the answer for a notebook the user has left', async () => {
    const { tracker, model } = await openModel();
    const late = deferred<any>();
    post.mockReturnValueOnce(late.promise);
    const pending = model.refresh();
    const other = fakePanel('b.ipynb');
    post.mockResolvedValueOnce(analysis('b_step'));
    tracker.show(other);
    await flush();
    expect(model.state.panel).toBe(other);
    late.resolve(analysis('a_step'));
    await pending;
    expect(model.state.panel).toBe(other);
    expect(model.state.analysis?.steps[0].name).toBe('b_step');
  });

  it('does not analyse a notebook that is not a pipeline', async () => {
    const tracker = fakeTracker();
    tracker.show(fakePanel('plain.ipynb', {}));
    const model = new KaleModel(tracker as any);
    await flush();
    expect(post).not.toHaveBeenCalled();
    expect(model.state.analysis).toBeNull();
    expect(model.state.pending).toBe(false);
  });

  it('turns a server error into the state error and a diagnostic on its cell', async () => {
    const { model } = await openModel();
    post.mockRejectedValueOnce(
      new KaleRequestError(400, { error: 'tag', message: 'bad tag "stp:x"', cell: 2, line: null, fix: 'use step:x', diagnostics: [] }, 'x')
    );
    await model.refresh();
    expect(model.state.analysis).toBeNull();
    expect(model.state.error?.error).toBe('tag');
    expect(model.state.byCell.get(2)?.[0]).toMatchObject({ severity: 'error', message: 'bad tag "stp:x"', fix: 'use step:x' });
  });
});

describe('diagnosticsByCell', () => {
  it('groups by cell, leaves out info findings and cell-less ones, and does not repeat', () => {
    const d = (severity: any, cell: number | null, message: string) =>
      ({ severity, kind: 'k', cell, line: null, message, fix: null });
    const a = analysis('x');
    a.diagnostics = [d('warning', 1, 'unused'), d('info', 1, 'inferred edge'), d('warning', null, 'global')];
    const error = { error: 'k', message: 'unused', cell: 1, line: null, diagnostics: [d('warning', 1, 'unused'), d('error', 3, 'boom')] };
    const out = diagnosticsByCell(a, error as any);
    expect([...out.keys()].sort()).toEqual([1, 3]);
    expect(out.get(1)!.map(x => `${x.severity}:${x.message}`)).toEqual(['warning:unused']); // the same finding (kind, message, line) once
    expect(out.get(3)!.map(x => x.message)).toEqual(['boom']);
  });

  it('makes any thrown value an error body', () => {
    expect(toErrorBody(new Error('nope'))).toMatchObject({ error: 'internal', message: 'Error: nope', cell: null });
  });
});
