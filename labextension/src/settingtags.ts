/**
 * Step settings as form fields <-> the setting tags the CLI reads, pure.
 */
import { tryParseTag } from './tags';

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
  tags.push(...lines(f.configmap).map(l => `configmap:${l}`));
  tags.push(...lines(f.volume).map(l => `volume:${l}`));
  const security = SECURITY.map(([key, name]) => [name, String(f[key]).trim()])
    .filter(([, v]) => v)
    .map(([name, v]) => `${name}=${v}`);
  if (security.length) {
    tags.push(`security-context:${security.join(':')}`);
  }
  tags.push(...f.rest);
  return tags;
}
