/**
 * A step's HTML report in a JupyterLab main-area tab: fetched with the server connection's
 * credentials and shown in a sandboxed iframe (no scripts, no access to JupyterLab).
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import { h } from './dom';

export class ReportView extends Widget {
  constructor(url: string) {
    super();
    this.addClass('kale-report');
    this.url = url;
    this._frame = h('iframe', {
      class: 'kale-report-frame',
      // No allow-scripts, no allow-same-origin: the report is inert HTML in its own origin.
      sandbox: '',
      title: 'Step report',
      referrerpolicy: 'no-referrer'
    });
    this._status = h('p', { class: 'kale-muted kale-report-status' }, 'Loading the report…');
    this.node.append(this._status, this._frame);
    void this.load();
  }

  readonly url: string;

  /** Fetch the report (again) and show it. */
  async load(): Promise<void> {
    const settings = ServerConnection.makeSettings();
    try {
      // The server answers a path; the connection wants a URL under its base URL.
      const url = new URL(this.url, settings.baseUrl).href;
      const response = await ServerConnection.makeRequest(url, { method: 'GET' }, settings);
      const text = await response.text();
      if (!response.ok) {
        throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
      }
      this._frame.srcdoc = text;
      this._status.hidden = true;
    } catch (reason) {
      this._status.hidden = false;
      this._status.textContent = `The report could not be loaded: ${String(reason)}`;
      this._status.classList.add('kale-error');
    }
  }

  private _frame: HTMLIFrameElement;
  private _status: HTMLParagraphElement;
}

/** A main-area widget for a report, titled after its step. */
export function reportWidget(url: string, title: string): MainAreaWidget<ReportView> {
  const widget = new MainAreaWidget({ content: new ReportView(url) });
  widget.id = `kale-report-${Array.from(url).reduce((a, c) => (Math.imul(a, 31) + c.charCodeAt(0)) | 0, 7) >>> 0}`;
  widget.title.label = title;
  widget.title.caption = url;
  widget.title.closable = true;
  return widget;
}
