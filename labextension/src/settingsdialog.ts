/**
 * The step settings dialog: image, CPU/memory/GPU limits, cache, retries, timeout, env,
 * secrets and volumes, edited as the setting tags the CLI reads.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { h, uid } from './dom';
import { TagError, tryParseTag } from './tags';

interface IFields {
  image: string;
  cpu: string;
  memory: string;
  gpu: string;
  cache: string;
  retry: string;
  timeout: string;
  env: string;
  secret: string;
  volume: string;
  rest: string[];
}

const LIMITS: Array<[keyof IFields, string]> = [
  ['cpu', 'cpu'],
  ['memory', 'memory'],
  ['gpu', 'nvidia.com/gpu']
];

/** Settings tags -> form fields (tags the form does not show are kept in `rest`). */
export function tagsToFields(tags: readonly string[]): IFields {
  const f: IFields = {
    image: '', cpu: '', memory: '', gpu: '', cache: '', retry: '', timeout: '',
    env: '', secret: '', volume: '', rest: []
  };
  const lines: { [k: string]: string[] } = { env: [], secret: [], volume: [] };
  for (const text of tags) {
    const tag = tryParseTag(text);
    if (tag instanceof Error) {
      f.rest.push(text);
      continue;
    }
    const limit = LIMITS.find(([, res]) => tag.kind === 'limit' && tag.args[0] === res);
    if (limit) {
      (f as any)[limit[0]] = tag.args[1];
    } else if (tag.kind === 'image' || tag.kind === 'cache' || tag.kind === 'timeout') {
      (f as any)[tag.kind] = tag.args[0];
    } else if (tag.kind === 'retry') {
      f.retry = tag.args[0];
    } else if (tag.kind === 'env') {
      lines.env.push(`${tag.args[0]}=${tag.args[1]}`);
    } else if (tag.kind === 'secret' || tag.kind === 'volume') {
      lines[tag.kind].push(tag.args.join(':'));
    } else {
      f.rest.push(text);
    }
  }
  f.env = lines.env.join('\n');
  f.secret = lines.secret.join('\n');
  f.volume = lines.volume.join('\n');
  return f;
}

/** Form fields -> settings tags. */
export function fieldsToTags(f: IFields): string[] {
  const tags: string[] = [];
  if (f.image.trim()) {
    tags.push(`image:${f.image.trim()}`);
  }
  for (const [key, res] of LIMITS) {
    const v = String(f[key]).trim();
    if (v) {
      tags.push(`limit:${res}:${v}`);
    }
  }
  if (f.cache) {
    tags.push(`cache:${f.cache}`);
  }
  if (f.retry.trim()) {
    tags.push(`retry:${f.retry.trim()}`);
  }
  if (f.timeout.trim()) {
    tags.push(`timeout:${f.timeout.trim()}`);
  }
  const lines = (text: string) => text.split('\n').map(l => l.trim()).filter(Boolean);
  tags.push(...lines(f.env).map(l => `env:${l}`));
  tags.push(...lines(f.secret).map(l => `secret:${l}`));
  tags.push(...lines(f.volume).map(l => `volume:${l}`));
  tags.push(...f.rest);
  return tags;
}

class SettingsBody extends Widget implements Dialog.IBodyWidget<string[]> {
  constructor(tags: readonly string[]) {
    super();
    this.addClass('kale-settings-dialog');
    this._fields = tagsToFields(tags);
    const f = this._fields;
    const text = (key: keyof IFields, label: string, placeholder = '') => {
      const id = uid('kale-set');
      return h('div', { class: 'kale-field' },
        h('label', { for: id }, label),
        h('input', {
          id, type: 'text', value: f[key] as string, placeholder, 'aria-label': label,
          oninput: (e: Event) => { (f as any)[key] = (e.target as HTMLInputElement).value; this._check(); }
        })
      );
    };
    const area = (key: keyof IFields, label: string, placeholder: string) => {
      const id = uid('kale-set');
      return h('div', { class: 'kale-field' },
        h('label', { for: id }, label),
        h('textarea', {
          id, rows: 2, placeholder, 'aria-label': label,
          oninput: (e: Event) => { (f as any)[key] = (e.target as HTMLTextAreaElement).value; this._check(); }
        }, f[key] as string)
      );
    };
    const cacheId = uid('kale-set');
    this._errors = h('ul', { class: 'kale-settings-errors', role: 'alert' });
    this.node.append(
      text('image', 'Image', 'python:3.11-slim'),
      text('cpu', 'CPU limit', '500m'),
      text('memory', 'Memory limit', '2Gi'),
      text('gpu', 'GPU limit (nvidia.com/gpu)', '1'),
      h('div', { class: 'kale-field' },
        h('label', { for: cacheId }, 'Cache'),
        h('select', {
          id: cacheId, 'aria-label': 'Cache',
          onchange: (e: Event) => { f.cache = (e.target as HTMLSelectElement).value; this._check(); }
        },
          ['', 'enabled', 'disabled'].map(v =>
            h('option', { value: v, selected: f.cache === v }, v || 'pipeline default'))
        )
      ),
      text('retry', 'Retries', '0'),
      text('timeout', 'Timeout (seconds)', ''),
      area('env', 'Environment (NAME=VALUE per line)', 'LOG_LEVEL=debug'),
      area('secret', 'Secrets (SECRET:KEY:ENV per line)', 'db-creds:password:DB_PASSWORD'),
      area('volume', 'Volumes (PVC:MOUNT_PATH per line)', 'data-pvc:/data'),
      this._errors
    );
    this._check();
  }

  getValue(): string[] {
    return fieldsToTags(this._fields);
  }

  private _check(): void {
    this._errors.replaceChildren(
      ...fieldsToTags(this._fields)
        .map(t => tryParseTag(t))
        .filter((t): t is TagError => t instanceof TagError)
        .map(e => h('li', {}, e.message))
    );
  }

  private _fields: IFields;
  private _errors: HTMLUListElement;
}

/** Show the dialog; resolves to the new settings tags, or null when cancelled. */
export async function editStepSettings(step: string, tags: readonly string[]): Promise<string[] | null> {
  const result = await showDialog({
    title: `Settings of step ${step || '(unnamed)'}`,
    body: new SettingsBody(tags),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Save' })]
  });
  return result.button.accept ? result.value : null;
}
