/**
 * The sweep dialog: which parameters to sweep and over what (`choice:a,b`, `range:min:max:step`,
 * `uniform:min:max`, `loguniform:min:max`, `int:min:max`), the objective metric and its
 * direction, the algorithm, the number of trials and the parallelism. It opens with the
 * notebook's `katib_metadata` sweep when there is one (see `katibmeta.ts`).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { h, uid } from './dom';
import { IAnalysis } from './tokens';

export interface ISweepOptions {
  params: { [name: string]: string };
  objective: string;
  maximize: boolean;
  algorithm: string;
  trials: number | null;
  parallel: number;
  /** Where the trials run: here, or a Katib Experiment (its YAML, without a cluster). */
  engine: 'local' | 'katib';
  /** Katib: the image each trial runs in (with kale-like installed). */
  trialImage: string;
}

/** A starting search space for a parameter from its default value. */
export function defaultSpec(type: string, value: unknown): string {
  if (type === 'int' && typeof value === 'number') {
    return `range:${Math.max(1, Math.floor(value / 2))}:${value * 2}:${Math.max(1, Math.floor(value / 2))}`;
  }
  if (type === 'float' && typeof value === 'number') {
    return value > 0 ? `loguniform:${value / 10}:${value * 10}` : `uniform:${value - 1}:${value + 1}`;
  }
  if (type === 'bool') {
    return 'choice:True,False';
  }
  return `choice:${String(value)}`;
}

export class SweepBody extends Widget implements Dialog.IBodyWidget<ISweepOptions> {
  constructor(analysis: IAnalysis, initial: Partial<ISweepOptions> = {}) {
    super();
    this.addClass('kale-sweep-dialog');
    const params = Object.entries(analysis.pipeline.parameters);
    const metrics = analysis.pipeline.metrics;
    const given = initial.params ?? {};
    this._value = {
      params: {},
      objective: initial.objective && metrics.includes(initial.objective) ? initial.objective : metrics[0] ?? '',
      maximize: initial.maximize ?? true,
      algorithm: ['grid', 'random', 'tpe'].includes(initial.algorithm ?? '') ? initial.algorithm! : 'grid',
      trials: initial.trials ?? null,
      parallel: initial.parallel ?? 2,
      engine: initial.engine === 'katib' ? 'katib' : 'local',
      trialImage: initial.trialImage ?? ''
    };
    const rows = params.map(([name, info]) => {
      const swept = Object.prototype.hasOwnProperty.call(given, name);
      const spec = swept ? given[name] : defaultSpec(info.type, info.default);
      if (swept) {
        this._value.params[name] = spec;
      }
      const specInput = h('input', {
        type: 'text', value: spec, disabled: !swept, 'aria-label': `Search space of ${name}`,
        class: 'kale-sweep-spec',
        oninput: (e: Event) => { this._value.params[name] = (e.target as HTMLInputElement).value; }
      });
      return h('tr', {},
        h('td', {}, h('label', {},
          h('input', {
            type: 'checkbox', 'aria-label': `Sweep ${name}`, checked: swept,
            onchange: (e: Event) => {
              const on = (e.target as HTMLInputElement).checked;
              specInput.disabled = !on;
              if (on) {
                this._value.params[name] = specInput.value;
              } else {
                delete this._value.params[name];
              }
            }
          }), ` ${name}`)),
        h('td', { class: 'kale-muted' }, `${info.type} = ${JSON.stringify(info.default)}`),
        h('td', {}, specInput)
      );
    });
    const field = (label: string, control: HTMLElement) => {
      const id = uid('kale-sweep');
      control.id = id;
      return h('div', { class: 'kale-field' }, h('label', { for: id }, label), control);
    };
    const katibRow = field('Trial image (Katib)', h('input', {
      type: 'text', value: this._value.trialImage, 'aria-label': 'Trial image',
      placeholder: 'an image with kale-like installed',
      oninput: (e: Event) => { this._value.trialImage = (e.target as HTMLInputElement).value.trim(); }
    }));
    katibRow.hidden = this._value.engine !== 'katib';
    this.node.append(
      params.length
        ? h('table', { class: 'kale-sweep-params', 'aria-label': 'Parameters' },
            h('thead', {}, h('tr', {}, h('th', {}, 'Parameter'), h('th', {}, 'Default'), h('th', {}, 'Values'))),
            h('tbody', {}, rows))
        : h('p', { role: 'alert' }, 'This notebook has no pipeline-parameters cell to sweep.'),
      h('p', { class: 'kale-muted' }, 'Values: choice:a,b,c · range:min:max:step · uniform:min:max · loguniform:min:max · int:min:max'),
      field('Objective', h('select', { 'aria-label': 'Objective metric',
        onchange: (e: Event) => { this._value.objective = (e.target as HTMLSelectElement).value; } },
        metrics.map(m => h('option', { value: m, selected: m === this._value.objective }, m)))),
      field('Direction', h('select', { 'aria-label': 'Direction',
        onchange: (e: Event) => { this._value.maximize = (e.target as HTMLSelectElement).value === 'maximize'; } },
        h('option', { value: 'maximize', selected: this._value.maximize }, 'maximize'),
        h('option', { value: 'minimize', selected: !this._value.maximize }, 'minimize'))),
      field('Algorithm', h('select', { 'aria-label': 'Algorithm',
        onchange: (e: Event) => { this._value.algorithm = (e.target as HTMLSelectElement).value; } },
        ['grid', 'random', 'tpe'].map(a => h('option', { value: a, selected: a === this._value.algorithm }, a)))),
      field('Trials', h('input', { type: 'number', min: 1, placeholder: 'all grid points', 'aria-label': 'Trials',
        value: this._value.trials ?? '',
        oninput: (e: Event) => { const v = (e.target as HTMLInputElement).value; this._value.trials = v ? parseInt(v, 10) : null; } })),
      field('Run trials on', h('select', { 'aria-label': 'Sweep target',
        onchange: (e: Event) => {
          this._value.engine = (e.target as HTMLSelectElement).value === 'katib' ? 'katib' : 'local';
          katibRow.hidden = this._value.engine !== 'katib';
        } },
        h('option', { value: 'local', selected: this._value.engine === 'local' }, 'this machine (local runs)'),
        h('option', { value: 'katib', selected: this._value.engine === 'katib' }, 'Katib (write the Experiment YAML)'))),
      katibRow,
      field('Parallel trials', h('input', { type: 'number', min: 1, value: this._value.parallel, 'aria-label': 'Parallel trials',
        oninput: (e: Event) => { this._value.parallel = parseInt((e.target as HTMLInputElement).value, 10) || 1; } }))
    );
  }

  getValue(): ISweepOptions {
    return this._value;
  }

  private _value: ISweepOptions;
}

/** Ask for the sweep; null when cancelled. */
export async function askSweep(
  analysis: IAnalysis,
  initial: Partial<ISweepOptions> = {}
): Promise<ISweepOptions | null> {
  const result = await showDialog({
    title: 'Sweep',
    body: new SweepBody(analysis, initial),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Start sweep' })]
  });
  return result.button.accept ? result.value : null;
}
