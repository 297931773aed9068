/**
 * Keeps a CellEditor above every code cell of a notebook panel, and feeds them the live
 * analysis (step colours, diagnostics next to their cells).
 */
import { Cell } from '@jupyterlab/cells';
import { NotebookPanel } from '@jupyterlab/notebook';
import { PanelLayout } from '@lumino/widgets';

import { CellEditor, cellTags, setCellTags } from './celleditor';
import { stepOfCells, stepsBefore } from './celltags';
import { readSettings } from './metadata';
import { stepColor, stepColorAt } from './dom';
import { IAnalysisState, IKaleModel } from './tokens';

export class CellEditorManager {
  constructor(panel: NotebookPanel, model: IKaleModel) {
    this._panel = panel;
    this._model = model;
    void panel.context.ready.then(() => {
      if (panel.isDisposed || !panel.model) {
        return;
      }
      this.sync();
      panel.model.cells.changed.connect(() => requestAnimationFrame(() => this.sync()));
      panel.model.metadataChanged.connect(() => this._onAnalysis(model.state));
      model.changed.connect((_, state) => this._onAnalysis(state));
      this._onAnalysis(model.state);
    });
    panel.disposed.connect(() => this._editors.clear());
  }

  /** Attach editors to code cells that lack one; drop editors of removed cells. */
  sync(): void {
    const notebook = this._panel.content;
    const live = new Set<Cell>(notebook.widgets);
    for (const [cell, editor] of this._editors) {
      if (!live.has(cell) || cell.isDisposed) {
        editor.dispose();
        this._editors.delete(cell);
      }
    }
    const enabled = this._enabled();
    notebook.widgets.forEach(cell => {
      if (cell.model.type !== 'code' || this._editors.has(cell)) {
        return;
      }
      const editor = new CellEditor(cell, {
        index: () => notebook.widgets.indexOf(cell),
        earlierSteps: () => stepsBefore(this._allTags(), notebook.widgets.indexOf(cell)),
        stepOf: () => this._stepOf(notebook.widgets.indexOf(cell)),
        colorOf: step => this._colorOf(step),
        revealDiagnostic: d => d.cell !== null && this._model.revealCell(d.cell),
        renameStep: (from, to) => this.renameStep(from, to, cell)
      });
      (cell.layout as PanelLayout).insertWidget(0, editor);
      editor.setHidden(!enabled);
      this._editors.set(cell, editor);
    });
    this._refreshAll();
  }

  /** Point every other cell's `prev:FROM` tag at `to` (the step `from` was renamed). */
  renameStep(from: string, to: string, renamed?: Cell): void {
    for (const cell of this._panel.content.widgets) {
      if (cell === renamed || cell.model.type !== 'code') {
        continue;
      }
      const tags = cellTags(cell.model);
      if (tags.includes(`prev:${from}`)) {
        // Only the prev tag changes: order, spelling and every other tag stay as written.
        const next = tags.map(t => (t === `prev:${from}` ? `prev:${to}` : t));
        setCellTags(cell.model, next.filter((t, i) => next.indexOf(t) === i));
      }
    }
  }

  private _enabled(): boolean {
    const model = this._panel.model;
    return model ? readSettings(model).enabled : false;
  }

  private _allTags(): string[][] {
    return this._panel.content.widgets.map(c => cellTags(c.model));
  }

  private _stepOf(index: number): string | null {
    const state = this._model.state;
    if (state.panel === this._panel && state.analysis) {
      const step = state.analysis.steps.find(s => s.cells.includes(index));
      return step ? step.name : null;
    }
    const cells = this._panel.content.widgets.map(c => ({ type: c.model.type, tags: cellTags(c.model) }));
    return stepOfCells(cells)[index] ?? null;
  }

  private _colorOf(step: string): string {
    const state = this._model.state;
    let order: (string | null)[];
    if (state.panel === this._panel && state.analysis) {
      order = state.analysis.steps.map(s => s.name);
    } else {
      const cells = this._panel.content.widgets.map(c => ({ type: c.model.type, tags: cellTags(c.model) }));
      order = Array.from(new Set(stepOfCells(cells).filter(s => s !== null)));
    }
    const index = order.indexOf(step);
    return index < 0 ? stepColor(step) : stepColorAt(index);
  }

  private _onAnalysis(state: IAnalysisState): void {
    if (state.panel !== this._panel || this._panel.isDisposed) {
      return;
    }
    this._refreshAll();
  }

  private _refreshAll(): void {
    const enabled = this._enabled();
    const state = this._model.state;
    const mine = state.panel === this._panel;
    this._panel.content.widgets.forEach((cell, index) => {
      const editor = this._editors.get(cell);
      if (!editor) {
        return;
      }
      editor.setHidden(!enabled);
      editor.refresh();
      editor.setDiagnostics(mine && enabled ? state.byCell.get(index) ?? [] : []);
      if (!enabled) {
        cell.node.classList.remove('kale-step-cell', 'kale-has-error');
      }
    });
  }

  private _panel: NotebookPanel;
  private _model: IKaleModel;
  private _editors = new Map<Cell, CellEditor>();
}
