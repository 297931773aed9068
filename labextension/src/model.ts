/**
 * The live analysis of the active notebook: debounced `POST /kale-like/analyze` of the
 * unsaved notebook JSON after every edit (content, tags or metadata).
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Signal } from '@lumino/signaling';

import { readSettings } from './metadata';
import { KaleRequestError, postAPI } from './request';
import { IAnalysis, IAnalysisState, IDiagnostic, IErrorBody, IKaleModel } from './tokens';

export class KaleModel implements IKaleModel {
  constructor(
    tracker: INotebookTracker,
    options: { debounceMs?: number; activate?: (panel: NotebookPanel) => void } = {}
  ) {
    this._tracker = tracker;
    this.debounceMs = options.debounceMs ?? 200;
    this._activate = options.activate;
    tracker.currentChanged.connect(this._onCurrentChanged, this);
    this._onCurrentChanged();
  }

  debounceMs: number;

  get state(): IAnalysisState {
    return this._state;
  }

  get changed(): Signal<IKaleModel, IAnalysisState> {
    return this._changed;
  }

  async refresh(): Promise<void> {
    window.clearTimeout(this._timer);
    const panel = this._panel;
    if (!panel || !panel.model) {
      this._set({ panel: null, analysis: null, error: null, byCell: new Map(), pending: false });
      return;
    }
    const seq = ++this._seq;
    if (!readSettings(panel.model).enabled) {
      // Not a pipeline (yet): nothing to analyse until the user enables it.
      this._set({ panel, analysis: null, error: null, byCell: new Map(), pending: false });
      return;
    }
    this._set({ ...this._state, panel, pending: true });
    let analysis: IAnalysis | null = null;
    let error: IErrorBody | null = null;
    try {
      analysis = await postAPI<IAnalysis>('analyze', {
        notebook: panel.model.toJSON(),
        path: panel.context.path
      });
    } catch (reason) {
      error = toErrorBody(reason);
    }
    if (seq !== this._seq || panel !== this._panel) {
      return; // a newer edit or another notebook superseded this answer
    }
    this._set({ panel, analysis, error, byCell: diagnosticsByCell(analysis, error), pending: false });
  }

  revealCell(index: number): void {
    const panel = this._panel;
    if (!panel) {
      return;
    }
    this._activate?.(panel);
    const cell = panel.content.widgets[index];
    if (cell) {
      panel.content.activeCellIndex = index;
      void panel.content.scrollToCell(cell);
    }
  }

  /** Schedule an analysis after the debounce delay. */
  schedule(): void {
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(() => void this.refresh(), this.debounceMs);
  }

  private _onCurrentChanged(): void {
    const panel = this._tracker.currentWidget;
    if (panel === this._panel) {
      return;
    }
    this._panel = panel;
    if (panel) {
      this._watch(panel);
      void panel.context.ready.then(() => {
        if (panel === this._panel) {
          void this.refresh();
        }
      });
    } else {
      void this.refresh();
    }
  }

  private _watch(panel: NotebookPanel): void {
    if (this._watched.has(panel)) {
      return;
    }
    this._watched.add(panel);
    const onEdit = () => {
      if (panel === this._panel) {
        this.schedule();
      }
    };
    void panel.context.ready.then(() => {
      const model = panel.model;
      if (!model) {
        return;
      }
      model.contentChanged.connect(onEdit);
      model.metadataChanged.connect(onEdit);
      const watchCells = () => {
        for (let i = 0; i < model.cells.length; i++) {
          const cell = model.cells.get(i);
          if (!this._watchedCells.has(cell)) {
            this._watchedCells.add(cell);
            cell.metadataChanged.connect(onEdit);
          }
        }
      };
      watchCells();
      model.cells.changed.connect(() => {
        watchCells();
        onEdit();
      });
    });
    panel.disposed.connect(() => {
      this._watched.delete(panel);
      if (panel === this._panel) {
        this._panel = null;
        void this.refresh();
      }
    });
  }

  private _set(state: IAnalysisState): void {
    this._state = state;
    this._changed.emit(state);
  }

  private _tracker: INotebookTracker;
  private _activate?: (panel: NotebookPanel) => void;
  private _panel: NotebookPanel | null = null;
  private _seq = 0;
  private _timer = 0;
  private _watched = new Set<NotebookPanel>();
  private _watchedCells = new WeakSet<object>();
  private _state: IAnalysisState = {
    panel: null,
    analysis: null,
    error: null,
    byCell: new Map(),
    pending: false
  };
  private _changed = new Signal<IKaleModel, IAnalysisState>(this);
}

/** Any thrown value as the server's error body. */
export function toErrorBody(reason: unknown): IErrorBody {
  if (reason instanceof KaleRequestError) {
    return {
      error: reason.kind,
      message: reason.message,
      cell: reason.cell,
      line: reason.line,
      fix: reason.fix,
      diagnostics: reason.diagnostics
    };
  }
  return { error: 'internal', message: String(reason), cell: null, line: null, diagnostics: [] };
}

/** Diagnostics grouped by cell index; an error with a cell counts as an error diagnostic. */
export function diagnosticsByCell(
  analysis: IAnalysis | null,
  error: IErrorBody | null
): Map<number, IDiagnostic[]> {
  const out = new Map<number, IDiagnostic[]>();
  const add = (d: IDiagnostic) => {
    if (d.cell === null || d.cell === undefined) {
      return;
    }
    const list = out.get(d.cell) ?? [];
    if (!list.some(x => x.kind === d.kind && x.message === d.message && x.line === d.line)) {
      list.push(d);
    }
    out.set(d.cell, list);
  };
  for (const d of analysis?.diagnostics ?? []) {
    // Info findings (inferred edges...) stay in the panel; cells show what needs action.
    if (d.severity !== 'info') {
      add(d);
    }
  }
  if (error) {
    for (const d of error.diagnostics ?? []) {
      add(d);
    }
    if (error.cell !== null && error.cell !== undefined) {
      add({
        severity: 'error',
        kind: error.error,
        cell: error.cell,
        line: error.line,
        message: error.message,
        fix: error.fix ?? null
      });
    }
  }
  return out;
}
