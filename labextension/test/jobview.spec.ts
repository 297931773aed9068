/**
 * jobview.ts: per-step rows, "cancelling…" shown before the server answers, the cancelled
 * summary, the sweep's trials as a table with the best row marked, errors that jump to a cell.
 */
jest.mock('../src/request', () => ({ ...jest.requireActual('../src/request'), requestAPI: jest.fn() }));

import './dom-polyfill';
import { JobView } from '../src/jobview';
import { requestAPI } from '../src/request';
import { IJobStatus } from '../src/tokens';
import { deferred } from './fakes';

const request = requestAPI as jest.MockedFunction<typeof requestAPI>;

function job(status: IJobStatus['status'], steps: Record<string, string>, extra: Partial<IJobStatus> = {}): IJobStatus {
  return {
    id: 'j1', kind: 'run', notebook: 'a.ipynb', status, run_id: null, elapsed: 1.25,
    steps: Object.fromEntries(Object.entries(steps).map(([n, s]) => [n, { status: s as any, seconds: 0.5 }])),
    result: null, error: null, log: [], ...extra
  };
}

const text = (el: Element | null) => (el?.textContent ?? '').replace(/\s+/g, ' ').trim();

beforeEach(() => request.mockReset());

describe('JobView', () => {
  it('shows each step with its status and time', () => {
    const view = new JobView({ revealCell: () => undefined });
    view.render(job('running', { load: 'succeeded', report: 'running' }));
    const rows = view.node.querySelectorAll('tbody tr');
    expect(Array.from(rows).map(r => r.getAttribute('data-step'))).toEqual(['load', 'report']);
    expect(text(view.node.querySelector('tr[data-step="report"] .kale-status'))).toBe('running');
    expect(text(view.node.querySelector('tr[data-step="load"] td:nth-child(3)'))).toBe('0.5 s');
    expect(view.node.querySelector('button.kale-cancel')).not.toBeNull();
  });

  it('says "cancelling…" at once, before the server answers, then the state each step stopped in', async () => {
    const view = new JobView({ revealCell: () => undefined });
    const running = job('running', { load: 'succeeded', report: 'running', after: 'pending' });
    view.render(running);
    const answer = deferred<any>();
    request.mockReturnValueOnce(answer.promise);
    const cancelled = view.cancel(running);
    // Nothing answered yet: the header and the running step already say so.
    expect(view.node.querySelector('.kale-job-header')!.getAttribute('data-cancelling')).toBe('true');
    expect(text(view.node.querySelector('.kale-job-header span'))).toContain('cancelling…');
    expect(text(view.node.querySelector('tr[data-step="report"] .kale-status'))).toBe('running (cancelling…)');
    expect((view.node.querySelector('button.kale-cancel') as HTMLButtonElement).disabled).toBe(true);
    expect(request).toHaveBeenCalledWith('runs/j1/cancel', { method: 'POST' });
    answer.resolve(job('running', { load: 'succeeded', report: 'running', after: 'pending' }));
    await cancelled;
    view.render(job('cancelled', { load: 'succeeded', report: 'cancelled', after: 'pending' }));
    expect(view.node.querySelector('button.kale-cancel')).toBeNull();
    expect(text(view.node.querySelector('.kale-cancel-summary'))).toBe('Cancelled; steps: load succeeded, report cancelled.');
  });

  it('lists the trials of a sweep as a table and marks the best one', () => {
    const view = new JobView({ revealCell: () => undefined });
    const trials = [
      { parameters: { lr: 0.1, depth: 2 }, objective: 0.7, status: 'succeeded' },
      { parameters: { lr: 0.01, depth: 3 }, objective: 0.9, status: 'succeeded' },
      { parameters: { lr: 1, depth: 1 }, objective: null, status: 'failed' }
    ];
    view.render(job('succeeded', {}, {
      result: { trials, best: trials[1], objective: { metric: 'acc', direction: 'maximize' } }
    }));
    const table = view.node.querySelector('table[aria-label="Sweep trials"]')!;
    expect(Array.from(table.querySelectorAll('th')).map(text)).toEqual(['#', 'lr', 'depth', 'objective', 'status']);
    const rows = Array.from(table.querySelectorAll('tbody tr'));
    expect(rows.map(r => Array.from(r.querySelectorAll('td')).map(text))).toEqual([
      ['0', '0.1', '2', '0.7', 'succeeded'],
      ['1', '0.01', '3', '0.9', 'succeeded'],
      ['2', '1', '1', '—', 'failed']
    ]);
    expect(rows.map(r => r.classList.contains('kale-best'))).toEqual([false, true, false]);
  });

  it('shows metrics and a failed step\'s error with a button to its cell (1-based label)', () => {
    const reveal = jest.fn();
    const view = new JobView({ revealCell: reveal });
    view.render(job('failed', { start: 'succeeded', divide: 'failed' }, {
      result: { metrics: { ratio: 0.5 }, steps: { divide: { status: 'failed', error: 'ZeroDivisionError', cell: 2 } } }
    }));
    expect(text(view.node.querySelector('dd[data-metric="ratio"]'))).toBe('0.5');
    const alert = view.node.querySelector('.kale-error')!;
    expect(text(alert.querySelector('.kale-error-message'))).toBe('step divide: ZeroDivisionError');
    const go = alert.querySelector('button.kale-link') as HTMLButtonElement;
    expect(text(go)).toBe('Go to cell 3');
    go.click();
    expect(reveal).toHaveBeenCalledWith(2);
  });

  it('opens a report in JupyterLab on a plain click', () => {
    const open = jest.fn();
    const view = new JobView({ revealCell: () => undefined, openReport: open });
    const running = job('succeeded', { load: 'succeeded' });
    running.steps.load.report_url = '/kale-like/reports/x/load.html';
    view.render(running);
    const link = view.node.querySelector('a[aria-label="Report of step load"]') as HTMLAnchorElement;
    link.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, button: 0 }));
    expect(open).toHaveBeenCalledWith('/kale-like/reports/x/load.html', 'Report: load');
  });

  it('follows a job until it ends, and stops following when another job replaces it', async () => {
    jest.useFakeTimers();
    try {
      const view = new JobView({ revealCell: () => undefined, pollMs: () => 10 });
      request
        .mockResolvedValueOnce(job('running', { a: 'running' }))
        .mockResolvedValueOnce(job('succeeded', { a: 'succeeded' }));
      const done = view.follow('j1', 'Run locally');
      await jest.advanceTimersByTimeAsync(50);
      expect((await done)?.status).toBe('succeeded');
      expect(request).toHaveBeenCalledTimes(2);
      expect(view.node.querySelector('.kale-job-header')!.getAttribute('data-status')).toBe('succeeded');

      request.mockReset();
      const first = deferred<any>();
      request.mockReturnValueOnce(first.promise).mockResolvedValueOnce(job('succeeded', { b: 'succeeded' }, { id: 'j2' }));
      const old = view.follow('j1', 'Run locally');
      const replacement = view.follow('j2', 'Compile');
      expect((await replacement)?.id).toBe('j2');
      first.resolve(job('running', { a: 'running' }));
      expect(await old).toBeNull();
      expect(view.node.querySelector('tr[data-step="b"]')).not.toBeNull(); // the old job did not draw over it
    } finally {
      jest.useRealTimers();
    }
  });
});
