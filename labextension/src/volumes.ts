/**
 * The notebook-level volumes of a pipeline, as Kale keeps them in
 * `kubeflow_notebook.volumes`: existing PVCs (`type: pvc`) mounted into every step, and new
 * PVCs by size (`type: new_pvc`). kale_like mounts existing PVCs only; for a new one the
 * analysis warns (the section shows that warning on its row).
 */
import { h } from './dom';
import { IDiagnostic } from './tokens';

export interface IVolume {
  type: 'pvc' | 'new_pvc';
  name: string;
  mount_point: string;
  /** new_pvc only: the size as Kale writes it (number and unit). */
  size?: number;
  size_type?: string;
}

const UNITS = ['Mi', 'Gi', 'Ti'];

/** The volumes of the metadata block; entries the section cannot edit are kept aside. */
export function readVolumes(meta: { [key: string]: any }): { volumes: IVolume[]; other: unknown[] } {
  const raw = Array.isArray(meta.volumes) ? meta.volumes : meta.volumes ? [meta.volumes] : [];
  const volumes: IVolume[] = [];
  const other: unknown[] = [];
  for (const v of raw) {
    if (v && typeof v === 'object' && (v.type === undefined || v.type === 'pvc' || v.type === 'new_pvc')) {
      const vol: IVolume = {
        type: v.type === 'new_pvc' ? 'new_pvc' : 'pvc',
        name: typeof v.name === 'string' ? v.name : '',
        mount_point: typeof v.mount_point === 'string' ? v.mount_point : ''
      };
      if (vol.type === 'new_pvc') {
        vol.size = typeof v.size === 'number' ? v.size : Number(v.size) || 1;
        vol.size_type = UNITS.includes(v.size_type) ? v.size_type : 'Gi';
      }
      volumes.push({ ...v, ...vol });
    } else {
      other.push(v); // clones, pv, strings...: Kale's, left as they are
    }
  }
  return { volumes, other };
}

/** The metadata block with `volumes` replaced (the section's rows first, others kept). */
export function writeVolumes(meta: { [key: string]: any }, volumes: IVolume[], other: unknown[]): { [key: string]: any } {
  const out = { ...meta };
  const all = [
    ...volumes.map(v => {
      const { size, size_type, ...rest } = v;
      return v.type === 'new_pvc' ? { ...rest, size: size ?? 1, size_type: size_type ?? 'Gi' } : rest;
    }),
    ...other
  ];
  if (all.length) {
    out.volumes = all;
  } else {
    delete out.volumes;
  }
  return out;
}

/** What is wrong with a row before the server says anything (empty when fine). */
export function volumeProblem(v: IVolume): string {
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(v.name)) {
    return 'PVC name: lower-case letters, digits, - and . (a Kubernetes name)';
  }
  if (!v.mount_point.startsWith('/')) {
    return 'mount point: an absolute path, e.g. /data';
  }
  if (v.type === 'new_pvc' && !(typeof v.size === 'number' && v.size > 0)) {
    return 'size: a positive number';
  }
  return '';
}

/** The analysis findings about volume entry `index` (e.g. the new_pvc warning). */
export function volumeDiagnostics(diagnostics: IDiagnostic[], index: number): IDiagnostic[] {
  const key = `kubeflow_notebook.volumes[${index}]`;
  return diagnostics.filter(d => d.message.includes(key));
}

/** The section's rows: edit, remove, add; `save` gets the new list. */
export function renderVolumes(
  volumes: IVolume[],
  diagnostics: IDiagnostic[],
  save: (volumes: IVolume[]) => void
): HTMLElement {
  const update = (i: number, change: Partial<IVolume>) => {
    const next = volumes.map((v, j) => (j === i ? { ...v, ...change } : v));
    if (change.type === 'new_pvc') {
      next[i] = { ...next[i], size: next[i].size ?? 1, size_type: next[i].size_type ?? 'Gi' };
    }
    save(next);
  };
  const rows = volumes.map((v, i) => {
    const n = i + 1;
    const problem = volumeProblem(v);
    const found = volumeDiagnostics(diagnostics, i);
    return h('li', { class: 'kale-volume', 'data-index': String(i), 'data-type': v.type },
      h('select', {
        'aria-label': `Volume ${n} kind`,
        onchange: (e: Event) => update(i, { type: (e.target as HTMLSelectElement).value as IVolume['type'] })
      },
        h('option', { value: 'pvc', selected: v.type === 'pvc' }, 'existing PVC'),
        h('option', { value: 'new_pvc', selected: v.type === 'new_pvc' }, 'new PVC')),
      h('input', {
        type: 'text', value: v.name, 'aria-label': `Volume ${n} PVC name`, placeholder: 'PVC name',
        onchange: (e: Event) => update(i, { name: (e.target as HTMLInputElement).value.trim() })
      }),
      h('input', {
        type: 'text', value: v.mount_point, 'aria-label': `Volume ${n} mount point`, placeholder: 'mount point, e.g. /data',
        onchange: (e: Event) => update(i, { mount_point: (e.target as HTMLInputElement).value.trim() })
      }),
      v.type === 'new_pvc'
        ? h('span', { class: 'kale-volume-size' },
            h('input', {
              type: 'number', min: 1, value: v.size ?? 1, 'aria-label': `Volume ${n} size`,
              onchange: (e: Event) => update(i, { size: Number((e.target as HTMLInputElement).value) })
            }),
            h('select', {
              'aria-label': `Volume ${n} size unit`,
              onchange: (e: Event) => update(i, { size_type: (e.target as HTMLSelectElement).value })
            }, UNITS.map(u => h('option', { value: u, selected: u === (v.size_type ?? 'Gi') }, u))))
        : null,
      h('button', {
        type: 'button', class: 'kale-link', 'aria-label': `Remove volume ${n}`,
        onclick: () => save(volumes.filter((_, j) => j !== i))
      }, 'remove'),
      problem ? h('p', { class: 'kale-error-message', role: 'alert' }, problem) : null,
      ...found.map(d => h('p', { class: `kale-diagnostic kale-${d.severity}`, 'data-kind': d.kind },
        `${d.severity}: ${d.message}`, d.fix ? h('span', { class: 'kale-diagnostic-fix' }, ` Fix: ${d.fix}`) : null))
    );
  });
  return h('div', { class: 'kale-volumes' },
    h('p', { class: 'kale-muted' }, 'Mounted into every step. kale_like mounts existing PVCs; create a new one first.'),
    rows.length ? h('ul', { class: 'kale-volume-list', 'aria-label': 'Volumes' }, rows) : null,
    h('button', {
      type: 'button', class: 'jp-mod-styled', 'aria-label': 'Add volume',
      onclick: () => save([...volumes, { type: 'pvc', name: '', mount_point: '' }])
    }, 'Add volume'));
}
