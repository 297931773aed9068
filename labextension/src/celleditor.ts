/**
 * The per-cell step editor shown above each code cell: kind, step name, depends-on and a
 * settings dialog; diagnostics of the cell below it. Every edit writes the cell's tags.
 */
import { Cell, ICellModel } from '@jupyterlab/cells';
import { Widget } from '@lumino/widgets';

import { ICellRole, KIND_LABELS, readRole, writeRole, CellKind } from './celltags';
import { cellLabel, h, rerender, typingIn, uid } from './dom';
import { editStepSettings } from './settingsdialog';
import { IDiagnostic } from './tokens';

export function cellTags(model: ICellModel): string[] {
  const tags = model.getMetadata('tags');
  return Array.isArray(tags) ? tags.filter(t => typeof t === 'string') : [];
}

export function setCellTags(model: ICellModel, tags: string[]): void {
  if (tags.length === 0) {
    model.deleteMetadata('tags');
  } else {
    model.setMetadata('tags', tags);
  }
}

export interface ICellEditorContext {
  /** 0-based index of the cell in the notebook. */
  index(): number;
  /** Step names declared before this cell. */
  earlierSteps(): string[];
  /** The step this cell belongs to (from the analysis, or from tags). */
  stepOf(): string | null;
  /** The colour of a step (by its position in the pipeline). */
  colorOf(step: string): string;
  revealDiagnostic(d: IDiagnostic): void;
  /** A step was renamed: point the `prev:` tags of other cells at its new name. */
  renameStep(from: string, to: string): void;
}

export class CellEditor extends Widget {
  constructor(cell: Cell, context: ICellEditorContext) {
    super();
    this._cell = cell;
    this._context = context;
    this.addClass('kale-cell-editor');
    this.node.setAttribute('role', 'group');
    this._controls = h('div', { class: 'kale-cell-controls' });
    this._diagnostics = h('ul', { class: 'kale-cell-diagnostics', 'aria-live': 'polite' });
    this.node.append(this._controls, this._diagnostics);
    cell.model.metadataChanged.connect(this.refresh, this);
    this.refresh();
  }

  get cell(): Cell {
    return this._cell;
  }

  dispose(): void {
    if (!this.isDisposed && this._cell.model) {
      this._cell.model.metadataChanged.disconnect(this.refresh, this);
    }
    super.dispose();
  }

  /** Re-render the controls (unless the user is typing in them) and the step colour. */
  refresh(): void {
    if (this.isDisposed) {
      return;
    }
    const role = readRole(cellTags(this._cell.model));
    const index = this._context.index();
    this.node.setAttribute('aria-label', `Pipeline role of ${cellLabel(index)}`);
    this.node.dataset.cellIndex = String(index);
    if (!typingIn(this._controls)) {
      rerender(this._controls, this._render(role));
    }
    const step = this._context.stepOf();
    const node = this._cell.node;
    node.classList.toggle('kale-step-cell', step !== null);
    if (step !== null) {
      node.style.setProperty('--kale-step-color', this._context.colorOf(step));
      node.dataset.kaleStep = step;
    } else {
      node.style.removeProperty('--kale-step-color');
      delete node.dataset.kaleStep;
    }
  }

  setDiagnostics(list: IDiagnostic[]): void {
    this._diagnostics.replaceChildren(
      ...list.map(d =>
        h('li', { class: `kale-diagnostic kale-${d.severity}`, 'data-kind': d.kind },
          h('button', {
            class: 'kale-link', type: 'button',
            'aria-label': `${d.severity}: ${d.message}`,
            onclick: () => this._context.revealDiagnostic(d)
          }, `${d.severity}${d.line ? ` (line ${d.line})` : ''}:`),
          ' ',
          h('span', { class: 'kale-diagnostic-message' }, d.message),
          d.fix ? h('div', { class: 'kale-diagnostic-fix' }, `Fix: ${d.fix}`) : null
        )
      )
    );
    this._cell.node.classList.toggle('kale-has-error', list.some(d => d.severity === 'error'));
  }

  private _write(role: ICellRole): void {
    setCellTags(this._cell.model, writeRole(role));
  }

  private _render(role: ICellRole): HTMLElement[] {
    const kindId = uid('kale-kind');
    const kind = h('select', {
      id: kindId, class: 'kale-kind', 'aria-label': 'Cell kind',
      onchange: (e: Event) => {
        const value = (e.target as HTMLSelectElement).value as CellKind;
        const next = { ...role, kind: value };
        if (value === 'step' && !next.name) {
          next.name = this._suggestName();
        }
        this._write(next); // re-renders through metadataChanged, keeping the focus
      }
    }, KIND_LABELS.map(([value, label]) => h('option', { value, selected: value === role.kind }, label)));
    const out: HTMLElement[] = [h('label', { class: 'kale-control-label', for: kindId }, 'Pipeline'), kind];
    if (role.kind !== 'step') {
      const step = this._context.stepOf();
      if (role.kind === 'none' && step) {
        out.push(h('span', { class: 'kale-step-badge', style: `--kale-step-color:${this._context.colorOf(step)}` }, step));
      }
      return out;
    }
    const nameId = uid('kale-name');
    const nameInput = h('input', {
      id: nameId, type: 'text', class: 'kale-step-name', value: role.name, 'aria-label': 'Step name',
      spellcheck: 'false',
      onchange: (e: Event) => {
        const name = (e.target as HTMLInputElement).value.trim();
        const old = readRole(cellTags(this._cell.model)).name;
        this._write({ ...readRole(cellTags(this._cell.model)), name });
        if (old && name && old !== name) {
          this._context.renameStep(old, name);
        }
      },
      onkeydown: (e: KeyboardEvent) => {
        if (e.key === 'Enter') {
          (e.target as HTMLInputElement).blur();
        }
        e.stopPropagation(); // keep notebook shortcuts out of the text field
      }
    });
    out.push(h('label', { class: 'kale-control-label', for: nameId }, 'name'), nameInput, this._renderDepends(role), h('button', {
      type: 'button', class: 'kale-settings-button', 'aria-label': `Settings of step ${role.name}`,
      title: 'Step settings (image, resources, cache, retries, env, secrets, config maps, volumes, security context)',
      onclick: () => {
        void editStepSettings(role.name, role.settings).then(tags => {
          if (tags) {
            this._write({ ...readRole(cellTags(this._cell.model)), settings: tags });
          }
        });
      }
    }, role.settings.length ? `settings (${role.settings.length})` : 'settings'));
    return out;
  }

  private _renderDepends(role: ICellRole): HTMLElement {
    const choices = this._context.earlierSteps().filter(s => s !== role.name);
    for (const p of role.prev) {
      if (!choices.includes(p)) {
        choices.push(p); // a dangling prev stays visible (and removable)
      }
    }
    const summary = role.prev.length ? `depends on: ${role.prev.join(', ')}` : 'depends on: (data only)';
    return h('details', {
      class: 'kale-depends',
      onkeydown: (e: KeyboardEvent) => {
        e.stopPropagation(); // notebook shortcuts stay out of the list
        if (e.key === 'Escape') {
          const details = e.currentTarget as HTMLDetailsElement;
          details.open = false;
          (details.querySelector('summary') as HTMLElement | null)?.focus();
        }
      }
    },
      h('summary', { 'aria-label': `Depends on, ${summary}` }, summary),
      h('div', { class: 'kale-depends-list', role: 'group', 'aria-label': 'Depends on' },
        choices.length === 0 ? h('span', { class: 'kale-muted' }, 'no earlier steps') : null,
        choices.map(name =>
          h('label', {},
            h('input', {
              type: 'checkbox', value: name, checked: role.prev.includes(name),
              'aria-label': `Depends on ${name}`,
              onchange: (e: Event) => {
                const on = (e.target as HTMLInputElement).checked;
                const current = readRole(cellTags(this._cell.model));
                const prev = on
                  ? [...current.prev.filter(p => p !== name), name]
                  : current.prev.filter(p => p !== name);
                this._write({ ...current, prev });
              }
            }),
            name
          )
        )
      )
    );
  }

  private _suggestName(): string {
    const taken = new Set(this._context.earlierSteps());
    for (let i = this._context.index(); ; i++) {
      const name = `step_${i}`;
      if (!taken.has(name)) {
        return name;
      }
    }
  }

  private _cell: Cell;
  private _context: ICellEditorContext;
  private _controls: HTMLDivElement;
  private _diagnostics: HTMLUListElement;
}
