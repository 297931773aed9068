/**
 * Step settings as form fields <-> the setting tags the CLI reads, pure.
 */
import { TagError, tryParseTag } from './tags';

export interface IFields {
  image: string;
  cpu: string;
  memory: string;
  gpu: string;
  cache: string;
  retry: string;
  timeout: string;
  env: string;
  secret: string;
  configmap: string;
  volume: string;
  /** `security-context:` fields: digits, and '' | 'true' | 'false'. */
  runAsUser: string;
  runAsGroup: string;
  runAsNonRoot: string;
  rest: string[];
}

/** Form field <-> `security-context:` item, in the order the tag is written. */
export const SECURITY: Array<[keyof IFields, string]> = [
  ['runAsUser', 'run_as_user'],
  ['runAsGroup', 'run_as_group'],
  ['runAsNonRoot', 'run_as_non_root']
];

export const LIMITS: Array<[keyof IFields, string]> = [
  ['cpu', 'cpu'],
  ['memory', 'memory'],
  ['gpu', 'nvidia.com/gpu']
];

/** The text fields whose tags are one per line. */
const LINE_FIELDS: Array<keyof IFields> = ['env', 'secret', 'configmap', 'volume'];

/**
 * The field an invalid tag belongs to, with its raw value, so the dialog shows it (as an
 * error) where the user would fix it; clearing the field then removes the tag.
 */
function fieldOfInvalid(text: string): [keyof IFields, string] | null {
  const colon = text.indexOf(':');
  const keyword = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  if (keyword === 'limit') {
    const limit = LIMITS.find(([, res]) => rest.startsWith(res + ':'));
    return limit ? [limit[0], rest.slice(limit[1].length + 1)] : null;
  }
  if (keyword === 'image' || keyword === 'cache' || keyword === 'retry' || keyword === 'timeout') {
    return [keyword, rest];
  }
  if ((LINE_FIELDS as string[]).includes(keyword)) {
    return [keyword as keyof IFields, rest];
  }
  return null;
}

/** Settings tags -> form fields (tags the form does not show are kept in `rest`). */
export function tagsToFields(tags: readonly string[]): IFields {
  const f: IFields = {
    image: '', cpu: '', memory: '', gpu: '', cache: '', retry: '', timeout: '',
    env: '', secret: '', configmap: '', volume: '', runAsUser: '', runAsGroup: '',
    runAsNonRoot: '', rest: []
  };
  const lines: { [k: string]: string[] } = { env: [], secret: [], configmap: [], volume: [] };
  for (const text of tags) {
    const tag = tryParseTag(text);
    if (tag instanceof Error) {
      const field = fieldOfInvalid(text);
      if (field && (LINE_FIELDS as string[]).includes(field[0])) {
        lines[field[0]].push(field[1]);
      } else if (field && !(f as any)[field[0]]) {
        (f as any)[field[0]] = field[1];
      } else {
        f.rest.push(text);
      }
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
    } else if (tag.kind === 'secret' || tag.kind === 'configmap' || tag.kind === 'volume') {
      lines[tag.kind].push(tag.args.join(':'));
    } else if (tag.kind === 'security-context') {
      // One tag may set several fields, several tags one each: all end up in one tag.
      for (const item of tag.args) {
        const eq = item.indexOf('='); // the grammar guarantees FIELD=VALUE
        const known = SECURITY.find(([, name]) => name === item.slice(0, eq));
        if (known) {
          (f as any)[known[0]] = item.slice(eq + 1);
        }
      }
    } else {
      f.rest.push(text);
    }
  }
  f.env = lines.env.join('\n');
  f.secret = lines.secret.join('\n');
  f.configmap = lines.configmap.join('\n');
  f.volume = lines.volume.join('\n');
  return f;
}

/** The form fields in the order their tags are written. */
export const FIELD_ORDER: Array<keyof IFields> = [
  'image', 'cpu', 'memory', 'gpu', 'cache', 'retry', 'timeout', 'env', 'secret', 'configmap', 'volume',
  'runAsUser', 'runAsGroup', 'runAsNonRoot'
];

/** The tags one form field writes (security fields: each alone, for its own validation). */
export function fieldTags(f: IFields, key: keyof IFields): string[] {
  const value = String(f[key] ?? '').trim();
  const limit = LIMITS.find(([k]) => k === key);
  const security = SECURITY.find(([k]) => k === key);
  if (limit) {
    return value ? [`limit:${limit[1]}:${value}`] : [];
  }
  if (security) {
    return value ? [`security-context:${security[1]}=${value}`] : [];
  }
  if ((LINE_FIELDS as string[]).includes(key)) {
    return String(f[key]).split('\n').map(l => l.trim()).filter(Boolean).map(l => `${key}:${l}`);
  }
  return value ? [`${key}:${value}`] : [];
}

/** Per field, what the tag grammar says is wrong with the tags it would write. */
export function fieldErrors(f: IFields): Map<keyof IFields, string[]> {
  const out = new Map<keyof IFields, string[]>();
  for (const key of FIELD_ORDER) {
    const messages = fieldTags(f, key)
      .map(tag => tryParseTag(tag))
      .filter((t): t is TagError => t instanceof TagError)
      .map(e => e.message + (e.fix ? ` (fix: ${e.fix})` : ''));
    if (messages.length) {
      out.set(key, messages);
    }
  }
  return out;
}

/** Form fields -> settings tags. */
export function fieldsToTags(f: IFields): string[] {
  const tags: string[] = [];
  for (const key of FIELD_ORDER) {
    if (!SECURITY.some(([k]) => k === key)) {
      tags.push(...fieldTags(f, key));
    }
  }
  const security = SECURITY.map(([key, name]) => [name, String(f[key]).trim()])
    .filter(([, v]) => v)
    .map(([name, v]) => `${name}=${v}`);
  if (security.length) {
    tags.push(`security-context:${security.join(':')}`);
  }
  tags.push(...f.rest);
  return tags;
}
