/**
 * panel.ts: the enable toggle and settings write Kale's metadata keys; each notebook keeps its
 * own results; an error keeps the last good graph (greyed) under the diagnostics; Deploy
 * actions save first and send the settings the user typed.
 */
jest.mock('../src/request', () => ({
  ...jest.requireActual('../src/request'),
  postAPI: jest.fn(),
  requestAPI: jest.fn(),
  readServerFile: jest.fn()
}));
jest.mock('../src/sweepdialog', () => ({ askSweep: jest.fn() }));

import './dom-polyfill';
import { Signal } from '@lumino/signaling';

import { KalePanel } from '../src/panel';
import { postAPI, readServerFile, requestAPI } from '../src/request';
import { askSweep } from '../src/sweepdialog';
import { IAnalysisState, IKaleModel } from '../src/tokens';
import { analysis, fakePanel, IFakePanel } from './fakes';

const post = postAPI as jest.MockedFunction<typeof postAPI>;
const request = requestAPI as jest.MockedFunction<typeof requestAPI>;

class FakeModel implements IKaleModel {
  state: IAnalysisState = { panel: null, analysis: null, error: null, byCell: new Map(), pending: false };
  changed: Signal<IKaleModel, IAnalysisState> = new Signal<IKaleModel, IAnalysisState>(this);
  refresh = jest.fn(async () => undefined);
  revealCell = jest.fn();
  set(s: Partial<IAnalysisState>): void {
    this.state = { ...this.state, ...s };
    this.changed.emit(this.state);
  }
}

function setup(meta?: Record<string, unknown>): { model: FakeModel; panel: KalePanel; nb: IFakePanel } {
  const model = new FakeModel();
  const panel = new KalePanel(model);
  document.body.appendChild(panel.node);
  const nb = fakePanel('a.ipynb', meta);
  model.set({ panel: nb as any, analysis: analysis('load', 'report') });
  return { model, panel, nb };
}

afterEach(() => {
  document.body.replaceChildren();
  post.mockReset();
  request.mockReset();
  (readServerFile as jest.Mock).mockReset();
});

describe('KalePanel', () => {
  it('hides the actions until the pipeline is enabled; the toggle writes kubeflow_notebook.enabled', () => {
    const { panel, nb } = setup({});
    const toggle = panel.node.querySelector('input[aria-label="Enable pipeline"]') as HTMLInputElement;
    expect(toggle.checked).toBe(false);
    expect((panel.node.querySelector('.kale-actions') as HTMLElement).hidden).toBe(true);
    toggle.checked = true;
    toggle.dispatchEvent(new Event('change'));
    expect(nb.model.getMetadata('kubeflow_notebook')).toEqual({ enabled: true });
    expect((panel.node.querySelector('.kale-actions') as HTMLElement).hidden).toBe(false);
    expect(panel.node.querySelector('input[data-key="experiment_name"]')).not.toBeNull();
  });

  it('writes a setting under Kale\'s key, keeps the others, and removes a cleared one', () => {
    const { panel, nb } = setup({ kubeflow_notebook: { pipeline_name: 'p', docker_image: 'kale:1' } });
    const field = (key: string) => panel.node.querySelector(`input[data-key="${key}"]`) as HTMLInputElement;
    expect(field('base_image').value).toBe('kale:1'); // Kale's docker_image is read as the base image
    field('experiment_name').value = '  team-a ';
    field('experiment_name').dispatchEvent(new Event('change'));
    expect(nb.model.getMetadata('kubeflow_notebook')).toEqual({ pipeline_name: 'p', docker_image: 'kale:1', experiment_name: 'team-a' });
    field('pipeline_name').value = '';
    field('pipeline_name').dispatchEvent(new Event('change'));
    expect(nb.model.getMetadata('kubeflow_notebook')).toEqual({ docker_image: 'kale:1', experiment_name: 'team-a' });
  });

  it('keeps the last good graph, greyed, under an error, and shows the error above it', () => {
    const { model, panel } = setup();
    expect(Array.from(panel.node.querySelectorAll('.kale-dag-node')).map(n => n.getAttribute('data-step'))).toEqual(['load', 'report']);
    model.set({ analysis: null, error: { error: 'tag', message: 'unknown tag "stpe:x"', cell: 4, line: null, fix: 'step:x', diagnostics: [] } });
    const graph = panel.node.querySelector('.kale-graph')!;
    const diag = graph.querySelector('ul[aria-label="Diagnostics"]')!;
    expect(diag.textContent).toContain('unknown tag "stpe:x"');
    expect(diag.querySelector('button')!.textContent).toBe('cell 5'); // JupyterLab counts from 1
    expect(graph.querySelector('.kale-dag-wrap')!.classList.contains('kale-dag-stale')).toBe(true);
    expect(graph.querySelectorAll('.kale-dag-node')).toHaveLength(2);
    // The diagnostics come before the graph.
    expect(diag.compareDocumentPosition(graph.querySelector('.kale-dag-wrap')!) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    (diag.querySelector('button') as HTMLButtonElement).click();
    expect(model.revealCell).toHaveBeenCalledWith(4);
  });

  it('saves, runs locally, and shows the progress in that notebook\'s own results', async () => {
    const { model, panel, nb } = setup({ kubeflow_notebook: { enable_caching: false } });
    nb.model.dirty = true;
    post.mockResolvedValueOnce({ id: 'j1', status: 'queued' });
    request.mockResolvedValueOnce({
      id: 'j1', kind: 'run', notebook: 'a.ipynb', status: 'succeeded', run_id: null, elapsed: 1,
      steps: { load: { status: 'succeeded', seconds: 0.2 } }, result: {}, error: null, log: []
    });
    await panel.perform('run');
    expect(nb.context.save).toHaveBeenCalled();
    expect(post).toHaveBeenCalledWith('run', { path: 'a.ipynb', options: { use_cache: false } });
    const results = () => panel.node.querySelector('.kale-results-body')!;
    expect(results().querySelector('tr[data-step="load"]')).not.toBeNull();

    // Another notebook: its own (empty) results; back again: the run is still there.
    const other = fakePanel('b.ipynb');
    model.set({ panel: other as any, analysis: analysis('x') });
    expect(results().querySelector('tr[data-step="load"]')).toBeNull();
    model.set({ panel: nb as any, analysis: analysis('load', 'report') });
    expect(results().querySelector('tr[data-step="load"]')).not.toBeNull();
  });

  it('sends the typed endpoint, experiment and image to an upload', async () => {
    request.mockImplementation(async (url?: string) => url!.startsWith('kfp/')
      ? { experiments: ['exp'] }
      : { id: 'j2', kind: 'deploy', notebook: 'a.ipynb', status: 'succeeded', run_id: 'r', elapsed: 1, steps: {}, result: {}, error: null, log: [] });
    const { panel } = setup({
      kubeflow_notebook: { kfp_host: 'http://kfp:8080', experiment_name: 'exp', base_image: 'img:1', registry: 'reg/x' }
    });
    post.mockResolvedValueOnce({ id: 'j2', status: 'queued' });
    await panel.perform('deploy');
    expect(request).toHaveBeenCalledWith('runs/j2');
    expect(post).toHaveBeenCalledWith('deploy', {
      path: 'a.ipynb',
      hints: {
        registry: 'reg/x', push: true, base_image: 'img:1', host: 'http://kfp:8080',
        experiment: 'exp', use_cache: true
      }
    });
  });
});

describe('KalePanel experiment field', () => {
  it('is free text without a KFP endpoint', () => {
    const { panel } = setup({ kubeflow_notebook: { pipeline_name: 'p' } });
    const field = panel.node.querySelector('input[data-key="experiment_name"]') as HTMLInputElement;
    expect(field.getAttribute('list')).toBeNull();
    expect(request).not.toHaveBeenCalled();
  });

  it('offers the experiments read from the configured endpoint, once per host', async () => {
    request.mockResolvedValueOnce({ host: 'http://kfp:8080', experiments: ['Default', 'team-a'] });
    const { panel, nb } = setup({ kubeflow_notebook: { kfp_host: 'http://kfp:8080' } });
    expect(request).toHaveBeenCalledWith('kfp/experiments?host=http%3A%2F%2Fkfp%3A8080');
    await new Promise(resolve => setTimeout(resolve, 0));
    const field = panel.node.querySelector('input[data-key="experiment_name"]') as HTMLInputElement;
    const list = panel.node.querySelector(`datalist#${field.getAttribute('list')}`)!;
    expect(Array.from(list.querySelectorAll('option')).map(o => o.value)).toEqual(['Default', 'team-a']);
    expect(panel.node.querySelector('[data-experiments]')!.getAttribute('data-experiments')).toBe('loaded');
    // Still free text: a new name is written as typed.
    field.value = 'brand-new';
    field.dispatchEvent(new Event('change'));
    expect(nb.model.getMetadata('kubeflow_notebook').experiment_name).toBe('brand-new');
    expect(request).toHaveBeenCalledTimes(1);
  });

  it('says why the list is missing when KFP cannot be reached', async () => {
    const { KaleRequestError } = jest.requireActual('../src/request');
    request.mockRejectedValueOnce(new KaleRequestError(503, { error: 'kfp-unreachable', message: 'cannot reach http://kfp:8080' }, 'x'));
    const { panel } = setup({ kubeflow_notebook: { kfp_host: 'http://kfp:8080' } });
    await new Promise(resolve => setTimeout(resolve, 0));
    const hint = panel.node.querySelector('[data-experiments]')!;
    expect(hint.getAttribute('data-experiments')).toBe('error');
    expect(hint.textContent).toContain('cannot reach http://kfp:8080');
    expect(panel.node.querySelectorAll('datalist option')).toHaveLength(0);
  });
});

describe('KalePanel Katib sweep', () => {
  it('writes the Experiment next to the notebook (dry run) and shows its YAML', async () => {
    const ask = askSweep as jest.MockedFunction<typeof askSweep>;
    const read = readServerFile as jest.MockedFunction<typeof readServerFile>;
    ask.mockResolvedValueOnce({
      params: { n: 'choice:3,5' }, objective: 'ratio', maximize: true, algorithm: 'grid', trials: null, parallel: 2,
      engine: 'katib', trialImage: 'reg/kale-like:1'
    });
    const { model, panel, nb } = setup({ kubeflow_notebook: {} });
    model.state.analysis!.pipeline.parameters = { n: { type: 'int', default: 5 } };
    post.mockResolvedValueOnce({ id: 'k1', status: 'queued' });
    request.mockResolvedValueOnce({
      id: 'k1', kind: 'sweep', notebook: 'a.ipynb', status: 'succeeded', run_id: null, elapsed: 1, steps: {}, error: null, log: [],
      result: { sweep_id: 'p', objective: { metric: 'ratio', direction: 'maximize' }, trials: [], best: null,
        engine: 'katib', status: 'dry-run', manifest_path: '/srv/root/a_katib/p-experiment.yaml' }
    });
    read.mockResolvedValueOnce('apiVersion: kubeflow.org/v1beta1\nkind: Experiment\n');
    await panel.perform('sweep');
    expect(post).toHaveBeenCalledWith('sweep', {
      path: 'a.ipynb',
      options: {
        params: { n: 'choice:3,5' }, objective: 'ratio', maximize: true, algorithm: 'grid', trials: undefined, parallel: 2,
        engine: 'katib', dry_run: true, output_dir: 'a_katib', trial_image: 'reg/kale-like:1'
      }
    });
    expect(read).toHaveBeenCalledWith('a_katib/p-experiment.yaml');
    const shown = panel.node.querySelector('pre[aria-label="Katib Experiment YAML"]')!;
    expect(shown.textContent).toContain('kind: Experiment');
    expect(panel.node.querySelector('.kale-katib-manifest')!.textContent).toContain('kubectl apply -f a_katib/p-experiment.yaml');
    expect(panel.node.querySelector('table[aria-label="Sweep trials"]')).toBeNull();
    // The choice is kept in katib_metadata for the next time (and for `kale-like sweep`).
    expect(nb.model.getMetadata('kubeflow_notebook').katib_metadata.objective.objectiveMetricName).toBe('ratio');
  });

  it('sends a local sweep without Katib options', async () => {
    const ask = askSweep as jest.MockedFunction<typeof askSweep>;
    ask.mockResolvedValueOnce({
      params: { n: 'choice:3,5' }, objective: 'ratio', maximize: false, algorithm: 'grid', trials: 2, parallel: 1,
      engine: 'local', trialImage: ''
    });
    const { panel } = setup({ kubeflow_notebook: {} });
    post.mockResolvedValueOnce({ id: 'k2', status: 'queued' });
    request.mockResolvedValueOnce({ id: 'k2', kind: 'sweep', notebook: 'a.ipynb', status: 'succeeded', run_id: null, elapsed: 1, steps: {}, error: null, log: [], result: { trials: [] } });
    await panel.perform('sweep');
    expect(post).toHaveBeenCalledWith('sweep', {
      path: 'a.ipynb',
      options: { params: { n: 'choice:3,5' }, objective: 'ratio', maximize: false, algorithm: 'grid', trials: 2, parallel: 1 }
    });
    expect(readServerFile).not.toHaveBeenCalled();
  });
});
