/**
 * The left panel for the active notebook: enable toggle, pipeline settings (in the notebook
 * metadata), the Deploy split button with job progress, and the live DAG with diagnostics.
 */
import { NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { DagView } from './dagview';
import { cellLabel, h, rerender, typingIn, uid } from './dom';
import { JobView } from './jobview';
import { FIELDS, IPipelineSettings, readSettings, writeSetting } from './metadata';
import { toErrorBody } from './model';
import { postAPI, readServerFile, requestAPI } from './request';
import { choiceFromKatib, katibFromChoice } from './katibmeta';
import { askSweep } from './sweepdialog';
import { IAnalysis, IAnalysisState, IJobStarted, IKaleModel, METADATA_KEY } from './tokens';
import { IVolume, readVolumes, renderVolumes, volumeProblem, writeVolumes } from './volumes';

export type Action = 'run' | 'compile' | 'build' | 'deploy' | 'sweep';

export const ACTIONS: Array<[Action, string]> = [
  ['run', 'Run locally'],
  ['compile', 'Compile'],
  ['build', 'Build images'],
  ['deploy', 'Upload & run on Kubeflow'],
  ['sweep', 'Sweep…']
];

export interface IPanelOptions {
  pollMs?: () => number;
  /** Open a step's HTML report inside JupyterLab (a main-area tab). */
  openReport?: (url: string, title: string) => void;
}

/** A collapsible section of the panel (open by default). */
function section(title: string, cls: string, ...body: HTMLElement[]): HTMLDetailsElement {
  return h('details', { class: `kale-section ${cls}`, open: true },
    h('summary', { class: 'kale-section-title' }, title), ...body);
}

export class KalePanel extends Widget {
  constructor(model: IKaleModel, options: IPanelOptions = {}) {
    super();
    this.id = 'kale-like-panel';
    this.addClass('kale-panel');
    this.title.caption = 'Kubeflow pipeline (kale-like)';
    this._model = model;
    this._options = options;
    this._settings = h('div', { class: 'kale-settings' });
    this._volumes = h('div', { class: 'kale-volumes-body' });
    this._volumesSection = section('Volumes', 'kale-volumes-section', this._volumes);
    this._graph = h('div', { class: 'kale-graph', 'aria-live': 'polite' });
    this._actions = h('div', { class: 'kale-actions' });
    this._results = h('div', { class: 'kale-results-body' });
    this._resultsSection = section('Results', 'kale-results-section', this._results);
    this._graphSection = section('Steps and data', 'kale-graph-section', this._graph);
    this.node.append(
      h('h2', { class: 'kale-title' }, 'Kubeflow pipeline'),
      section('Pipeline settings', 'kale-settings-section', this._settings),
      this._volumesSection,
      this._actions,
      this._resultsSection,
      this._graphSection
    );
    this._actions.append(...this._renderSplitButton());
    model.changed.connect((_, state) => this._onState(state));
    this._onState(model.state);
  }

  /** The job view of the active notebook: each notebook keeps its own last results. */
  private get _job(): JobView {
    const key = this._panel ?? this;
    let view = this._jobs.get(key);
    if (!view) {
      view = new JobView({
        revealCell: i => this._model.revealCell(i),
        pollMs: this._options.pollMs,
        openReport: this._options.openReport
      });
      this._jobs.set(key, view);
    }
    return view;
  }

  private _onState(state: IAnalysisState): void {
    if (state.panel !== this._panel) {
      this._panel = state.panel;
      this._panel?.model?.metadataChanged.connect(() => this._renderSettings());
    }
    if (this._results.firstChild !== this._job.node) {
      this._results.replaceChildren(this._job.node);
    }
    this._renderSettings();
    this._renderGraph(state);
  }

  private _settingsNow(): IPipelineSettings | null {
    return this._panel?.model ? readSettings(this._panel.model) : null;
  }

  private _renderSettings(): void {
    const model = this._panel?.model;
    if (typingIn(this._settings)) {
      return; // do not re-render under the user's cursor
    }
    if (!model) {
      this._settings.replaceChildren(h('p', { class: 'kale-muted' }, 'Open a notebook to make it a pipeline.'));
      this._actions.hidden = true;
      this._volumesSection.hidden = true;
      return;
    }
    const current = readSettings(model);
    this._actions.hidden = !current.enabled;
    this._graphSection.hidden = !current.enabled;
    this._resultsSection.hidden = !current.enabled;
    const toggleId = uid('kale-enable');
    const rows: HTMLElement[] = [
      h('div', { class: 'kale-field kale-toggle' },
        h('input', {
          id: toggleId, type: 'checkbox', role: 'switch', checked: current.enabled,
          'aria-checked': String(current.enabled), 'aria-label': 'Enable pipeline',
          onchange: (e: Event) => writeSetting(model, 'enabled', (e.target as HTMLInputElement).checked)
        }),
        h('label', { for: toggleId }, 'Enable pipeline'))
    ];
    if (current.enabled) {
      for (const field of FIELDS) {
        const id = uid('kale-field');
        const experiments = field.key === 'experiment_name' ? this._experimentChoices(current.kfp_host) : null;
        rows.push(h('div', { class: 'kale-field' },
          h('label', { for: id }, field.label),
          h('input', {
            id, type: 'text', value: current[field.key] as string, placeholder: field.placeholder ?? '',
            'aria-label': field.label, 'data-key': field.key, list: experiments ? `${id}-list` : null,
            onchange: (e: Event) => writeSetting(model, field.key, (e.target as HTMLInputElement).value.trim() as any),
            onkeydown: (e: KeyboardEvent) => e.key === 'Enter' && (e.target as HTMLInputElement).blur()
          }),
          experiments ? h('datalist', { id: `${id}-list` }, experiments.names.map(n => h('option', { value: n }))) : null,
          experiments ? h('span', { class: 'kale-muted kale-field-hint', 'data-experiments': experiments.state }, experiments.note) : null));
      }
      const cacheId = uid('kale-cache');
      rows.push(h('div', { class: 'kale-field kale-toggle' },
        h('input', {
          id: cacheId, type: 'checkbox', checked: current.enable_caching, 'aria-label': 'Caching',
          onchange: (e: Event) => writeSetting(model, 'enable_caching', (e.target as HTMLInputElement).checked)
        }),
        h('label', { for: cacheId }, 'Caching')));
    }
    rerender(this._settings, rows);
    this._volumesSection.hidden = !current.enabled;
    if (current.enabled && !typingIn(this._volumes)) {
      rerender(this._volumes, [this._renderVolumes()]);
    }
  }

  /**
   * Kale's notebook-level volumes. Rows still being filled in stay in the panel (a draft):
   * only complete ones are written, so a half-typed row never breaks the analysis.
   */
  private _renderVolumes(): HTMLElement {
    const panel = this._panel!;
    const model = panel.model!;
    const meta = (model.getMetadata(METADATA_KEY) ?? {}) as { [key: string]: any };
    const { volumes, other } = readVolumes(meta);
    const shown = this._volumeDrafts.get(panel) ?? volumes;
    const diagnostics = this._model.state.analysis?.diagnostics ?? this._model.state.error?.diagnostics ?? [];
    return renderVolumes(shown, diagnostics, (next: IVolume[]) => {
      const complete = next.filter(v => !volumeProblem(v));
      if (complete.length === next.length) {
        this._volumeDrafts.delete(panel);
      } else {
        this._volumeDrafts.set(panel, next);
      }
      const now = (model.getMetadata(METADATA_KEY) ?? {}) as { [key: string]: any };
      if (JSON.stringify(readVolumes(now).volumes) !== JSON.stringify(complete)) {
        model.setMetadata(METADATA_KEY, writeVolumes(now, complete, other));
      } else {
        this._renderSettings();
      }
    });
  }

  /**
   * The experiments of the configured KFP endpoint, fetched once per host; null without an
   * endpoint (the field is free text). A name not in the list is created by the upload.
   */
  private _experimentChoices(host: string): { names: string[]; state: string; note: string } | null {
    if (!host) {
      return null;
    }
    const known = this._experiments.get(host);
    if (known) {
      return known;
    }
    const loading = { names: [], state: 'loading', note: `Reading the experiments of ${host}…` };
    this._experiments.set(host, loading);
    requestAPI<{ experiments: string[] }>(`kfp/experiments?host=${encodeURIComponent(host)}`)
      .then(
        body => ({
          names: body.experiments, state: 'loaded',
          note: `${body.experiments.length} experiment(s) at ${host}; a new name is created on upload.`
        }),
        reason => ({
          names: [], state: 'error',
          note: `Cannot list the experiments (${toErrorBody(reason).message}); type a name.`
        })
      )
      .then(choice => {
        this._experiments.set(host, choice);
        this._renderSettings();
      });
    return loading;
  }

  private _renderSplitButton(): HTMLElement[] {
    const menuId = uid('kale-deploy-menu');
    const items = ACTIONS.map(([action, label]) =>
      h('li', { role: 'none' },
        h('button', {
          type: 'button', role: 'menuitem', tabindex: -1, 'data-action': action,
          onclick: () => { closeMenu(); void this.perform(action); }
        }, label)));
    const menu = h('ul', { id: menuId, role: 'menu', class: 'kale-menu', hidden: true, 'aria-label': 'Deploy actions' }, items);
    const buttons = () => Array.from(menu.querySelectorAll('button')) as HTMLButtonElement[];
    const closeMenu = () => { menu.hidden = true; toggle.setAttribute('aria-expanded', 'false'); };
    const openMenu = () => {
      menu.hidden = false;
      toggle.setAttribute('aria-expanded', 'true');
      buttons()[0].focus();
    };
    menu.addEventListener('keydown', (e: KeyboardEvent) => {
      const list = buttons();
      const at = list.indexOf(document.activeElement as HTMLButtonElement);
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        list[(at + (e.key === 'ArrowDown' ? 1 : list.length - 1)) % list.length].focus();
      } else if (e.key === 'Escape') {
        closeMenu();
        toggle.focus();
      } else if (e.key === 'Home' || e.key === 'End') {
        e.preventDefault();
        list[e.key === 'Home' ? 0 : list.length - 1].focus();
      }
    });
    const toggle = h('button', {
      type: 'button', class: 'kale-split-toggle', 'aria-haspopup': 'menu', 'aria-expanded': 'false',
      'aria-controls': menuId, 'aria-label': 'More deploy actions',
      onclick: () => (menu.hidden ? openMenu() : closeMenu()),
      onkeydown: (e: KeyboardEvent) => { if (e.key === 'ArrowDown') { e.preventDefault(); openMenu(); } }
    }, '▾');
    const main = h('button', {
      type: 'button', class: 'kale-split-main jp-mod-styled jp-mod-accept', 'aria-label': 'Deploy: run locally',
      onclick: () => void this.perform('run')
    }, 'Deploy · Run locally');
    return [h('div', { class: 'kale-split', role: 'group', 'aria-label': 'Deploy' }, main, toggle, menu)];
  }

  /** Perform one deploy action on the active notebook (saved first: jobs read the file). */
  async perform(action: Action): Promise<void> {
    const panel = this._panel;
    const settings = this._settingsNow();
    if (!panel || !settings) {
      return;
    }
    const label = ACTIONS.find(([a]) => a === action)![1].replace('…', '');
    const job = this._job; // the notebook's own results, even if the user switches away
    this._resultsSection.open = true;
    try {
      if (action === 'sweep') {
        await this._model.refresh();
        const analysis = this._model.state.analysis;
        if (!analysis) {
          job.showError(this._model.state.error ?? toErrorBody('the notebook has errors'), label);
          return;
        }
        // The sweep lives in Kale's katib_metadata block, which `kale-like sweep` reads too.
        const meta = { ...((panel.model?.getMetadata(METADATA_KEY) ?? {}) as { [key: string]: any }) };
        const options = await askSweep(analysis, choiceFromKatib(meta.katib_metadata));
        if (!options) {
          return;
        }
        const types = Object.fromEntries(
          Object.entries(analysis.pipeline.parameters).map(([name, info]) => [name, info.type])
        );
        meta.katib_metadata = katibFromChoice(options, types, meta.katib_metadata);
        panel.model?.setMetadata(METADATA_KEY, meta);
        await this._save(panel);
        const { engine, trialImage, ...common } = options;
        const body: { [key: string]: unknown } = { ...common, trials: options.trials ?? undefined };
        let outputDir = '';
        if (engine === 'katib') {
          // No cluster from here: write the Experiment next to the notebook and show it.
          const path = panel.context.path;
          outputDir = `${path.replace(/\.ipynb$/, '')}_katib`;
          Object.assign(body, { engine: 'katib', dry_run: true, output_dir: outputDir, trial_image: trialImage || undefined });
        }
        const started = await postAPI<IJobStarted>('sweep', { path: panel.context.path, options: body });
        const final = await job.follow(started.id, label);
        const written = final?.status === 'succeeded' ? final.result?.manifest_path : null;
        if (typeof written === 'string' && written) {
          const file = `${outputDir}/${written.split(/[\\/]/).pop()}`;
          job.showManifest(file, await readServerFile(file).catch(reason => `(cannot read it: ${toErrorBody(reason).message})`));
        }
        return;
      }
      await this._save(panel);
      const path = panel.context.path;
      if (action === 'compile') {
        job.showMessage('Compile: running…');
        job.renderCompiled(await postAPI('compile', { path }));
        return;
      }
      const hints = {
        registry: settings.registry || undefined,
        push: settings.registry ? true : undefined,
        base_image: settings.base_image || undefined,
        host: settings.kfp_host || undefined,
        experiment: settings.experiment_name || undefined,
        use_cache: settings.enable_caching
      };
      const started = action === 'run'
        ? await postAPI<IJobStarted>('run', { path, options: settings.enable_caching ? {} : { use_cache: false } })
        : await postAPI<IJobStarted>(action, { path, hints });
      await job.follow(started.id, label);
    } catch (reason) {
      job.showError(toErrorBody(reason), label);
    }
  }

  private async _save(panel: NotebookPanel): Promise<void> {
    if (panel.context.model.dirty) {
      await panel.context.save();
    }
  }

  private _renderGraph(state: IAnalysisState): void {
    const parts: HTMLElement[] = [];
    const panel = state.panel;
    if (panel && state.analysis) {
      this._lastGood.set(panel, state.analysis);
    }
    // With an error the analysis is gone: keep the last good graph, greyed, under it.
    const shown: IAnalysis | null = state.analysis ?? (panel && state.error ? this._lastGood.get(panel) ?? null : null);
    const diagnostics = [...(state.analysis?.diagnostics ?? [])];
    if (state.error) {
      diagnostics.unshift({
        severity: 'error', kind: state.error.error, cell: state.error.cell, line: state.error.line,
        message: state.error.message, fix: state.error.fix ?? null
      }, ...(state.error.diagnostics ?? []).filter(d => d.message !== state.error!.message));
    }
    // What needs action goes above the graph; info findings (inferred edges...) below it.
    const list = (items: typeof diagnostics, label: string) =>
      h('ul', { class: 'kale-diagnostics', 'aria-label': label },
        items.map(d => h('li', { class: `kale-diagnostic kale-${d.severity}`, 'data-kind': d.kind },
          d.cell !== null
            ? h('button', { type: 'button', class: 'kale-link', 'aria-label': `Go to ${cellLabel(d.cell)}`, onclick: () => this._model.revealCell(d.cell!) }, cellLabel(d.cell))
            : null,
          h('span', { class: 'kale-diagnostic-message' }, ` ${d.severity}: ${d.message}`),
          d.fix ? h('span', { class: 'kale-diagnostic-fix' }, `Fix: ${d.fix}`) : null)));
    const urgent = diagnostics.filter(d => d.severity !== 'info');
    const info = diagnostics.filter(d => d.severity === 'info');
    if (urgent.length) {
      parts.push(list(urgent, 'Diagnostics'));
    }
    if (shown) {
      const stale = shown !== state.analysis;
      if (stale) {
        parts.push(h('p', { class: 'kale-muted kale-stale-note' }, 'Last good graph, until the error above is fixed:'));
      }
      this._dag.show(shown, stale);
      parts.push(this._dag.node);
    }
    if (info.length) {
      parts.push(list(info, 'Notes'));
    }
    if (!parts.length) {
      parts.push(h('p', { class: 'kale-muted' }, state.pending ? 'Analysing…' : 'No analysis yet.'));
    }
    this._graph.replaceChildren(...parts);
    this._graph.dataset.pending = String(state.pending);
  }

  private _model: IKaleModel;
  private _options: IPanelOptions;
  private _panel: NotebookPanel | null = null;
  private _jobs = new WeakMap<object, JobView>();
  private _experiments = new Map<string, { names: string[]; state: string; note: string }>();
  private _lastGood = new WeakMap<NotebookPanel, IAnalysis>();
  private _dag = new DagView();
  private _results: HTMLDivElement;
  private _resultsSection: HTMLDetailsElement;
  private _graphSection: HTMLDetailsElement;
  private _settings: HTMLDivElement;
  private _volumes: HTMLDivElement;
  private _volumesSection: HTMLDetailsElement;
  private _volumeDrafts = new WeakMap<NotebookPanel, IVolume[]>();
  private _graph: HTMLDivElement;
  private _actions: HTMLDivElement;
}
