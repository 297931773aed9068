/**
 * Progress of a background job: per-step status and elapsed time, report links, metrics at
 * the end (or the sweep's trials with the best one), errors that jump to their cell.
 */
import { Widget } from '@lumino/widgets';

import { cellLabel, h } from './dom';
import { requestAPI } from './request';
import { toErrorBody } from './model';
import { IErrorBody, IJobStatus } from './tokens';

const FINAL = ['succeeded', 'failed', 'cancelled'];

export class JobView extends Widget {
  constructor(options: {
    revealCell: (index: number) => void;
    pollMs?: () => number;
    openReport?: (url: string, title: string) => void;
  }) {
    super();
    this.addClass('kale-job');
    this.node.setAttribute('aria-live', 'polite');
    this._revealCell = options.revealCell;
    this._pollMs = options.pollMs ?? (() => 500);
    this._openReport = options.openReport;
  }

  /** Ask the server to cancel; say "cancelling…" at once (the running step ends first). */
  async cancel(job: IJobStatus): Promise<void> {
    this._cancelling = job.id;
    this.render(job);
    try {
      const status = await requestAPI<IJobStatus>(`runs/${job.id}/cancel`, { method: 'POST' });
      if (this._cancelling === status.id && this._last?.id === status.id && !FINAL.includes(this._last.status)) {
        this.render(status);
      }
    } catch (reason) {
      this._cancelling = null;
      this.showError(toErrorBody(reason));
    }
  }

  /** Follow a job until it ends; resolves to its final status. */
  async follow(id: string, title: string): Promise<IJobStatus | null> {
    const token = ++this._token;
    this._title = title;
    this._cancelling = null;
    this.showMessage(`${title}: starting…`);
    for (;;) {
      let status: IJobStatus;
      try {
        status = await requestAPI<IJobStatus>(`runs/${id}`);
      } catch (reason) {
        this.showError(toErrorBody(reason));
        return null;
      }
      if (token !== this._token) {
        return null; // another job replaced this one
      }
      this.render(status);
      if (FINAL.includes(status.status)) {
        return status;
      }
      await new Promise(resolve => setTimeout(resolve, this._pollMs()));
    }
  }

  showMessage(text: string): void {
    this.node.replaceChildren(h('p', { class: 'kale-job-message' }, text));
  }

  showError(error: IErrorBody, title = this._title): void {
    this.node.replaceChildren(h('div', { class: 'kale-job-header kale-failed' }, `${title}: failed`), this._error(error));
  }

  render(job: IJobStatus): void {
    this._last = job;
    const result = job.result ?? {};
    const steps = Object.entries(job.steps);
    const live = job.status === 'running' || job.status === 'queued';
    const cancelling = live && this._cancelling === job.id;
    const header = h('div', {
      class: `kale-job-header kale-${cancelling ? 'cancelling' : job.status}`, 'data-status': job.status,
      'data-cancelling': cancelling ? 'true' : null
    },
      h('span', {}, `${this._title}: ${cancelling ? 'cancelling…' : job.status} (${job.elapsed.toFixed(1)} s)`),
      live
        ? h('button', {
            type: 'button', class: 'kale-cancel', 'aria-label': `Cancel ${this._title}`, disabled: cancelling,
            onclick: () => void this.cancel(job)
          }, cancelling ? 'Cancelling…' : 'Cancel')
        : null
    );
    const resultSteps = (result.steps ?? {}) as { [k: string]: any };
    const table = steps.length === 0 ? null : h('table', { class: 'kale-steps', 'aria-label': 'Steps' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Step'), h('th', {}, 'Status'), h('th', {}, 'Time'), h('th', {}, 'Report'))),
      h('tbody', {}, steps.map(([name, st]) => {
        const final = resultSteps[name] ?? {};
        const report = final.report_url ?? st.report_url;
        const stopping = cancelling && st.status === 'running';
        return h('tr', { 'data-step': name, 'data-status': st.status },
          h('td', {}, name),
          h('td', { class: `kale-status kale-${st.status}` }, stopping ? 'running (cancelling…)' : st.status),
          h('td', {}, `${st.seconds.toFixed(1)} s`),
          h('td', {}, report
            ? h('a', {
                href: report, target: '_blank', rel: 'noopener', 'aria-label': `Report of step ${name}`,
                title: 'Open the report in a JupyterLab tab',
                onclick: (e: MouseEvent) => {
                  // Plain click: a tab inside JupyterLab; Ctrl/middle click keeps the browser's way.
                  if (this._openReport && !e.ctrlKey && !e.metaKey && !e.shiftKey && e.button === 0) {
                    e.preventDefault();
                    this._openReport(report, `Report: ${name}`);
                  }
                }
              }, 'report')
            : st.message ? h('span', { class: 'kale-muted' }, st.message) : '')
        );
      }))
    );
    const log = job.log.length && !steps.length
      ? h('pre', { class: 'kale-log', 'aria-label': 'Log' }, job.log.slice(-8).join('\n'))
      : null;
    const parts: (HTMLElement | null)[] = [header, table, log];
    if (job.status === 'cancelled') {
      const stopped = steps.filter(([, st]) => st.status !== 'pending').map(([n, st]) => `${n} ${st.status}`);
      parts.push(h('p', { class: 'kale-muted kale-cancel-summary' },
        `Cancelled${stopped.length ? `; steps: ${stopped.join(', ')}` : ' before any step ran'}.`));
    }
    if (job.error) {
      parts.push(this._error(job.error));
    }
    for (const [name, st] of Object.entries(resultSteps)) {
      if (st && st.status === 'failed' && st.error) {
        parts.push(this._error({ error: 'step-failed', message: `step ${name}: ${st.error}`, cell: st.cell ?? null, line: null, diagnostics: [] }));
      }
    }
    if (result.metrics && Object.keys(result.metrics).length) {
      parts.push(h('h4', {}, 'Metrics'), h('dl', { class: 'kale-metrics' },
        Object.entries(result.metrics).flatMap(([k, v]) => [
          h('dt', {}, k), h('dd', { 'data-metric': k }, typeof v === 'object' ? JSON.stringify(v) : String(v))
        ])));
    }
    if (Array.isArray(result.trials) && result.engine !== 'katib') {
      parts.push(this._trials(result));
    }
    if (result.dsl || result.yaml) {
      parts.push(h('p', { class: 'kale-muted' }, `DSL: ${result.dsl ?? ''}`), h('p', { class: 'kale-muted' }, `YAML: ${result.yaml ?? ''}`));
    }
    this.node.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  /** A Katib sweep written without a cluster: where the Experiment is, and its YAML. */
  showManifest(path: string, yaml: string): void {
    this.node.append(h('div', { class: 'kale-katib-manifest' },
      h('p', {}, 'Katib Experiment written (no cluster: apply it with ', h('code', {}, `kubectl apply -f ${path}`), '):'),
      h('pre', { class: 'kale-log', 'aria-label': 'Katib Experiment YAML', tabindex: 0 }, yaml)));
  }

  /** A compile answers at once: show its files. */
  renderCompiled(result: { dsl?: string; yaml?: string; output_dir?: string }): void {
    this.node.replaceChildren(
      h('div', { class: 'kale-job-header kale-succeeded', 'data-status': 'succeeded' }, 'Compile: succeeded'),
      h('p', {}, 'DSL: ', h('code', {}, result.dsl ?? '')),
      h('p', {}, 'IR YAML: ', h('code', {}, result.yaml ?? ''))
    );
  }

  private _trials(result: any): HTMLElement {
    const best = result.best;
    const names = Array.from(new Set(result.trials.flatMap((t: any) => Object.keys(t.parameters ?? {})))) as string[];
    const isBest = (t: any) => best && t.objective === best.objective && JSON.stringify(t.parameters) === JSON.stringify(best.parameters);
    return h('div', { class: 'kale-trials' },
      h('h4', {}, `Trials (${result.objective?.direction ?? ''} ${result.objective?.metric ?? ''})`),
      h('table', { class: 'kale-steps', 'aria-label': 'Sweep trials' },
        h('thead', {}, h('tr', {}, h('th', {}, '#'), names.map(n => h('th', {}, n)), h('th', {}, 'objective'), h('th', {}, 'status'))),
        h('tbody', {}, result.trials.map((t: any, i: number) =>
          h('tr', { class: isBest(t) ? 'kale-best' : '', 'aria-label': isBest(t) ? 'best trial' : undefined },
            h('td', {}, String(i)), names.map(n => h('td', {}, JSON.stringify(t.parameters?.[n]))),
            h('td', {}, t.objective === null || t.objective === undefined ? '—' : String(t.objective)),
            h('td', {}, t.status))))),
      best ? h('p', { class: 'kale-best-summary' }, `Best: ${JSON.stringify(best.parameters)} → ${best.objective}`) : null
    );
  }

  private _error(error: IErrorBody): HTMLElement {
    const cell = error.cell;
    const go = (index: number) =>
      h('button', { type: 'button', class: 'kale-link', 'aria-label': `Go to ${cellLabel(index)}`, onclick: () => this._revealCell(index) },
        `Go to ${cellLabel(index)}`);
    return h('div', { class: 'kale-error', role: 'alert' },
      h('p', { class: 'kale-error-message' }, error.message),
      error.fix ? h('p', { class: 'kale-diagnostic-fix' }, `Fix: ${error.fix}`) : null,
      cell !== null && cell !== undefined ? h('p', {}, go(cell)) : null,
      (error.diagnostics ?? []).length
        ? h('ul', {}, error.diagnostics.map(d => h('li', {},
            d.cell !== null ? go(d.cell) : null, d.cell !== null ? ': ' : '', d.message)))
        : null
    );
  }

  private _revealCell: (index: number) => void;
  private _pollMs: () => number;
  private _openReport?: (url: string, title: string) => void;
  private _cancelling: string | null = null;
  private _last: IJobStatus | null = null;
  private _token = 0;
  private _title = '';
}
