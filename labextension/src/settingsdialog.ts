/**
 * The step settings dialog: image, CPU/memory/GPU limits, cache, retries, timeout, env,
 * secrets, config maps, volumes and the security context, edited as the setting tags the
 * CLI reads.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { h, uid } from './dom';
import { fieldsToTags, IFields, tagsToFields } from './settingtags';
import { TagError, tryParseTag } from './tags';

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
    const choice = (key: keyof IFields, label: string, values: Array<[string, string]>) => {
      const id = uid('kale-set');
      return h('div', { class: 'kale-field' },
        h('label', { for: id }, label),
        h('select', {
          id, 'aria-label': label,
          onchange: (e: Event) => { (f as any)[key] = (e.target as HTMLSelectElement).value; this._check(); }
        },
          values.map(([v, text]) => h('option', { value: v, selected: f[key] === v }, text))
        )
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
      area('configmap', 'Config maps (CONFIG_MAP:KEY:ENV per line)', 'app-config:log.level:LOG_LEVEL'),
      area('volume', 'Volumes (PVC:MOUNT_PATH per line)', 'data-pvc:/data'),
      text('runAsUser', 'Run as user (UID)', '1000'),
      text('runAsGroup', 'Run as group (GID)', '1000'),
      choice('runAsNonRoot', 'Run as non-root', [
        ['', 'image default'], ['true', 'true'], ['false', 'false']
      ]),
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
