/**
 * volumes.ts and the panel's Volumes section: Kale's `kubeflow_notebook.volumes` read and
 * written (other Kale entries kept), new PVCs by size with the analysis' warning on their
 * row, half-filled rows kept in the panel and never written.
 */
jest.mock('../src/request', () => ({ ...jest.requireActual('../src/request'), postAPI: jest.fn(), requestAPI: jest.fn() }));
jest.mock('../src/sweepdialog', () => ({ askSweep: jest.fn() }));

import './dom-polyfill';
import { Signal } from '@lumino/signaling';

import { KalePanel } from '../src/panel';
import { IAnalysisState, IKaleModel } from '../src/tokens';
import { readVolumes, volumeProblem, writeVolumes } from '../src/volumes';
import { analysis, fakePanel } from './fakes';

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

const clone = { type: 'clone', name: 'workspace', mount_point: '/home/jovyan', snapshot: true };

describe('readVolumes / writeVolumes', () => {
  it('reads pvc and new_pvc entries, keeps the others aside and writes them back after', () => {
    const meta = { pipeline_name: 'p', volumes: [
      { type: 'pvc', name: 'data', mount_point: '/data' }, clone,
      { type: 'new_pvc', name: 'scratch', mount_point: '/scratch', size: 5, size_type: 'Gi', annotations: [] }
    ] };
    const { volumes, other } = readVolumes(meta);
    expect(volumes.map(v => [v.type, v.name, v.size ?? null])).toEqual([['pvc', 'data', null], ['new_pvc', 'scratch', 5]]);
    expect(other).toEqual([clone]);
    const out = writeVolumes(meta, volumes.slice(1), other);
    expect(out.pipeline_name).toBe('p');
    expect(out.volumes).toEqual([
      { type: 'new_pvc', name: 'scratch', mount_point: '/scratch', size: 5, size_type: 'Gi', annotations: [] }, clone
    ]);
    expect('volumes' in writeVolumes(meta, [], [])).toBe(false);
  });

  it('says what is missing in a row', () => {
    expect(volumeProblem({ type: 'pvc', name: '', mount_point: '/d' })).toMatch(/PVC name/);
    expect(volumeProblem({ type: 'pvc', name: 'Data_1', mount_point: '/d' })).toMatch(/PVC name/);
    expect(volumeProblem({ type: 'pvc', name: 'data', mount_point: 'data' })).toMatch(/absolute/);
    expect(volumeProblem({ type: 'new_pvc', name: 'data', mount_point: '/d', size: 0 })).toMatch(/size/);
    expect(volumeProblem({ type: 'new_pvc', name: 'data', mount_point: '/d', size: 2, size_type: 'Gi' })).toBe('');
  });
});

describe('the Volumes section', () => {
  function setup(meta: Record<string, unknown>) {
    const model = new FakeModel();
    const panel = new KalePanel(model);
    document.body.appendChild(panel.node);
    const nb = fakePanel('a.ipynb', meta);
    model.set({ panel: nb as any, analysis: analysis('load') });
    return { model, panel, nb };
  }
  const q = (root: HTMLElement, label: string) => root.querySelector(`[aria-label="${label}"]`) as HTMLInputElement;
  const set = (el: HTMLInputElement | HTMLSelectElement, value: string) => {
    el.value = value;
    el.dispatchEvent(new Event('change'));
  };
  afterEach(() => document.body.replaceChildren());

  it('adds an existing PVC: written only once its name and mount point are valid', () => {
    const { panel, nb } = setup({ kubeflow_notebook: { pipeline_name: 'p', volumes: [clone] } });
    (q(panel.node, 'Add volume') as unknown as HTMLButtonElement).click();
    expect(nb.model.getMetadata('kubeflow_notebook').volumes).toEqual([clone]); // a draft, not written
    set(q(panel.node, 'Volume 1 PVC name'), 'data');
    expect(panel.node.querySelector('.kale-volume [role="alert"]')!.textContent).toMatch(/absolute path/);
    expect(nb.model.getMetadata('kubeflow_notebook').volumes).toEqual([clone]);
    set(q(panel.node, 'Volume 1 mount point'), '/data');
    expect(nb.model.getMetadata('kubeflow_notebook').volumes).toEqual([
      { type: 'pvc', name: 'data', mount_point: '/data' }, clone
    ]);
    expect(panel.node.querySelector('.kale-volume [role="alert"]')).toBeNull();
  });

  it('a new PVC by size, with the analysis warning that kale_like does not create it', () => {
    const { model, panel, nb } = setup({ kubeflow_notebook: { volumes: [{ type: 'pvc', name: 'data', mount_point: '/data' }] } });
    set(q(panel.node, 'Volume 1 kind') as unknown as HTMLSelectElement, 'new_pvc');
    set(q(panel.node, 'Volume 1 size'), '10');
    expect(nb.model.getMetadata('kubeflow_notebook').volumes).toEqual([
      { type: 'new_pvc', name: 'data', mount_point: '/data', size: 10, size_type: 'Gi' }
    ]);
    const a = analysis('load');
    a.diagnostics = [{
      severity: 'warning', kind: 'unsupported-volume', cell: null, line: null,
      message: "notebook metadata kubeflow_notebook.volumes[0] ('data', type 'new_pvc') is ignored: kale_like does not create volumes, so steps will not find it",
      fix: "create the PVC first and list it with type 'pvc'"
    }];
    model.set({ analysis: a });
    const warning = panel.node.querySelector('.kale-volume[data-index="0"] .kale-warning')!;
    expect(warning.getAttribute('data-kind')).toBe('unsupported-volume');
    expect(warning.textContent).toContain('does not create volumes');
    expect(warning.textContent).toContain("Fix: create the PVC first");
  });

  it('removes a row', () => {
    const { panel, nb } = setup({ kubeflow_notebook: { volumes: [{ type: 'pvc', name: 'data', mount_point: '/data' }] } });
    (q(panel.node, 'Remove volume 1') as unknown as HTMLButtonElement).click();
    expect('volumes' in nb.model.getMetadata('kubeflow_notebook')).toBe(false);
  });
});
