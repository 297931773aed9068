/**
 * The step settings dialog: image, CPU/memory/GPU limits, cache, retries, timeout, env,
 * secrets, config maps, volumes and the security context, edited as the setting tags the
 * CLI reads. Every field is checked as the user types, by the tag grammar the CLI uses
 * (tags.ts mirrors tags.py); Save stays disabled while a field is invalid. Invalid tags
 * already in the cell show in their field as errors; clearing a field removes its tag.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { h, uid } from './dom';
import { fieldErrors, fieldsToTags, IFields, tagsToFields } from './settingtags';
import { TagError, tryParseTag } from './tags';

type FieldKind = 'text' | 'area' | 'choice';

interface IFieldSpec {
  key: keyof IFields;
  label: string;
  kind: FieldKind;
  /** An example, shown as help text (never as a placeholder that looks like a value). */
  example?: string;
  values?: Array<[string, string]>;
}

const SPECS: IFieldSpec[] = [
  { key: 'image', label: 'Image', kind: 'text', example: 'python:3.11-slim' },
  { key: 'cpu', label: 'CPU limit', kind: 'text', example: '500m or 2' },
  { key: 'memory', label: 'Memory limit', kind: 'text', example: '2Gi or 512Mi' },
  { key: 'gpu', label: 'GPU limit (nvidia.com/gpu)', kind: 'text', example: '1' },
  { key: 'cache', label: 'Cache', kind: 'choice', values: [['', 'pipeline default'], ['enabled', 'enabled'], ['disabled', 'disabled']] },
  { key: 'retry', label: 'Retries', kind: 'text', example: '2 (a whole number)' },
  { key: 'timeout', label: 'Timeout (seconds)', kind: 'text', example: '600' },
  { key: 'env', label: 'Environment (NAME=VALUE per line)', kind: 'area', example: 'LOG_LEVEL=debug' },
  { key: 'secret', label: 'Secrets (SECRET:KEY:ENV per line)', kind: 'area', example: 'db-creds:password:DB_PASSWORD' },
  { key: 'configmap', label: 'Config maps (CONFIG_MAP:KEY:ENV per line)', kind: 'area', example: 'app-config:log.level:LOG_LEVEL' },
  { key: 'volume', label: 'Volumes (PVC:MOUNT_PATH per line)', kind: 'area', example: 'data-pvc:/data' },
  { key: 'runAsUser', label: 'Run as user (UID)', kind: 'text', example: '1000' },
  { key: 'runAsGroup', label: 'Run as group (GID)', kind: 'text', example: '1000' },
  { key: 'runAsNonRoot', label: 'Run as non-root', kind: 'choice', values: [['', 'image default'], ['true', 'true'], ['false', 'false']] }
];

export class SettingsBody extends Widget implements Dialog.IBodyWidget<string[]> {
  constructor(tags: readonly string[]) {
    super();
    this.addClass('kale-settings-dialog');
    this._fields = tagsToFields(tags);
    const f = this._fields;
    for (const spec of SPECS) {
      const id = uid('kale-set');
      const errorId = `${id}-error`;
      const helpId = `${id}-help`;
      const onInput = (e: Event) => {
        (f as any)[spec.key] = (e.target as HTMLInputElement).value;
        this._check();
      };
      const control =
        spec.kind === 'choice'
          ? h('select', { id, 'aria-label': spec.label, onchange: onInput },
              spec.values!.map(([v, text]) => h('option', { value: v, selected: f[spec.key] === v }, text)))
          : spec.kind === 'area'
            ? h('textarea', { id, rows: 2, 'aria-label': spec.label, 'aria-describedby': `${helpId} ${errorId}`, oninput: onInput, spellcheck: 'false' },
                f[spec.key] as string)
            : h('input', { id, type: 'text', value: f[spec.key] as string, 'aria-label': spec.label, 'aria-describedby': `${helpId} ${errorId}`, oninput: onInput, spellcheck: 'false' });
      const error = h('div', { id: errorId, class: 'kale-field-error', 'aria-live': 'polite' });
      this._controls.set(spec.key, [control, error]);
      this.node.append(h('div', { class: 'kale-field', 'data-field': spec.key },
        h('label', { for: id }, spec.label),
        control,
        spec.example ? h('div', { id: helpId, class: 'kale-field-help' }, `e.g. ${spec.example}`) : null,
        error));
    }
    this._rest = h('div', { class: 'kale-field kale-settings-rest' });
    this.node.append(this._rest);
    this._check();
  }

  getValue(): string[] {
    return fieldsToTags(this._fields);
  }

  /** Whether every field is valid (Save is enabled). */
  get valid(): boolean {
    return this._valid;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this._check();
  }

  private _check(): void {
    const errors = fieldErrors(this._fields);
    for (const [key, [control, error]] of this._controls) {
      const messages = errors.get(key) ?? [];
      control.setAttribute('aria-invalid', String(messages.length > 0));
      control.classList.toggle('kale-invalid', messages.length > 0);
      error.replaceChildren(...messages.map(m => h('div', {}, m)));
    }
    // Tags no field shows that the grammar refuses: listed with a remove button.
    const badRest = this._fields.rest
      .map(t => [t, tryParseTag(t)] as const)
      .filter((x): x is readonly [string, TagError] => x[1] instanceof TagError);
    this._rest.replaceChildren(...(badRest.length
      ? [h('span', { class: 'kale-field-label' }, 'Other invalid tags'),
         h('ul', { class: 'kale-settings-errors' }, badRest.map(([text, err]) => h('li', {},
           h('code', {}, text), ` ${err.message} `,
           h('button', {
             type: 'button', class: 'kale-link', 'aria-label': `Remove tag ${text}`,
             onclick: () => {
               this._fields.rest = this._fields.rest.filter(t => t !== text);
               this._check();
             }
           }, 'Remove'))))]
      : []));
    this._valid = errors.size === 0 && badRest.length === 0;
    const accept = this.node.closest('.jp-Dialog')?.querySelector('.jp-Dialog-button.jp-mod-accept') as HTMLButtonElement | null;
    if (accept) {
      accept.disabled = !this._valid;
      accept.title = this._valid ? '' : 'Fix the fields marked in red first';
    }
  }

  private _fields: IFields;
  private _controls = new Map<keyof IFields, [HTMLElement, HTMLElement]>();
  private _rest: HTMLDivElement;
  private _valid = true;
}

/** Show the dialog; resolves to the new settings tags, or null when cancelled. */
export async function editStepSettings(step: string, tags: readonly string[]): Promise<string[] | null> {
  const body = new SettingsBody(tags);
  const result = await showDialog({
    title: `Settings of step ${step || '(unnamed)'}`,
    body,
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Save' })]
  });
  if (result.button.accept && !body.valid) {
    // Enter in a field accepts even while Save is disabled: reopen with the user's edits.
    return editStepSettings(step, result.value ?? tags);
  }
  return result.button.accept ? result.value : null;
}
