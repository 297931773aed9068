/**
 * The cell-tag grammar (Kale compatible), mirroring `kale_like/tags.py`: `parseTag` /
 * `formatTag`, pure. Both are tested against `tests/tag_vectors.json`.
 *
 * Every tag is `KEYWORD` or `KEYWORD:REST`; the keyword is split off at the FIRST colon and
 * REST splits per keyword (`image:python:3.11-slim` names the image `python:3.11-slim`).
 */

export interface ITag {
  /** Canonical kind (`block` -> `step`, `parameters` -> `pipeline-parameters`). */
  kind: string;
  /** The keyword as written. */
  keyword: string;
  args: string[];
}

/** A tag outside the grammar; `kind` is `unknown-tag`, `bad-tag` or `invalid-step-name`. */
export class TagError extends Error {
  constructor(
    readonly kind: string,
    message: string,
    readonly tag: string,
    readonly fix: string | null = null
  ) {
    super(message);
    this.name = 'TagError';
  }
}

export const STEP_NAME_RE = /^[a-z_][a-z0-9_]*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const IMAGE_RE = /^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$/;
const RESOURCE_RE = /^[a-z0-9]([a-z0-9.\-/]*[a-z0-9])?$/;
const QUANTITY_RE = /^[0-9]+(\.[0-9]+)?([eE][0-9]+|[KMGTPE]i|[kKMGTPE]|m)?$/;
const DNS_RE = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const K8S_KEY_RE = /^([A-Za-z0-9][A-Za-z0-9.-]*\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE_RE = /^(([A-Za-z0-9][A-Za-z0-9._-]{0,61})?[A-Za-z0-9])?$/;
const SECRET_KEY_RE = /^[A-Za-z0-9._-]+$/;
const EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
/** The container identity fields `kfp.kubernetes.set_security_context` takes. */
const SECURITY_FIELDS: { [field: string]: 'id' | 'bool' } = {
  run_as_user: 'id',
  run_as_group: 'id',
  run_as_non_root: 'bool'
};
const MAX_ID = 2147483647;

const ALIASES: { [keyword: string]: string } = {
  step: 'step',
  block: 'step',
  prev: 'prev',
  notebook: 'notebook',
  skip: 'skip',
  imports: 'imports',
  functions: 'functions',
  'pipeline-parameters': 'pipeline-parameters',
  parameters: 'pipeline-parameters',
  'injected-parameters': 'injected-parameters',
  'pipeline-metrics': 'pipeline-metrics',
  image: 'image',
  limit: 'limit',
  request: 'request',
  cache: 'cache',
  retry: 'retry',
  timeout: 'timeout',
  env: 'env',
  secret: 'secret',
  configmap: 'configmap',
  'security-context': 'security-context',
  annotation: 'annotation',
  label: 'label',
  volume: 'volume',
  'node-selector': 'node-selector',
  toleration: 'toleration',
  report: 'report'
};
export const KNOWN_TAGS = Object.keys(ALIASES);
export const BARE_KINDS = new Set([
  'skip',
  'imports',
  'functions',
  'pipeline-parameters',
  'injected-parameters',
  'pipeline-metrics'
]);
export const SETTING_KINDS = new Set([
  'image',
  'limit',
  'request',
  'cache',
  'retry',
  'timeout',
  'env',
  'secret',
  'configmap',
  'security-context',
  'annotation',
  'label',
  'volume',
  'node-selector',
  'toleration',
  'report'
]);
export const USAGE: { [keyword: string]: string } = {
  step: 'step:NAME',
  block: 'block:NAME',
  prev: 'prev:NAME',
  notebook: 'notebook:NAME',
  image: 'image:REF',
  limit: 'limit:RESOURCE:VALUE',
  request: 'request:RESOURCE:VALUE',
  cache: 'cache:enabled|disabled',
  retry: 'retry:N',
  timeout: 'timeout:SECONDS',
  env: 'env:NAME=VALUE',
  secret: 'secret:SECRET:KEY:ENV',
  configmap: 'configmap:CONFIG_MAP:KEY:ENV',
  'security-context': 'security-context:run_as_user=UID:run_as_group=GID:run_as_non_root=true',
  annotation: 'annotation:KEY:VALUE',
  label: 'label:KEY:VALUE',
  volume: 'volume:PVC:MOUNT_PATH',
  'node-selector': 'node-selector:KEY:VALUE',
  toleration: 'toleration:KEY:VALUE:EFFECT',
  report: 'report:enabled|disabled'
};

/** Split at the first `sep`: [head, found, tail] like Python's `str.partition`. */
function partition(text: string, sep: string): [string, boolean, string] {
  const i = text.indexOf(sep);
  return i < 0 ? [text, false, ''] : [text.slice(0, i), true, text.slice(i + sep.length)];
}

function rpartition(text: string, sep: string): [string, boolean, string] {
  const i = text.lastIndexOf(sep);
  return i < 0 ? ['', false, text] : [text.slice(0, i), true, text.slice(i + sep.length)];
}

function bad(text: string, why: string, keyword: string): TagError {
  const usage = USAGE[keyword];
  return new TagError(
    'bad-tag',
    `invalid tag '${text}': ${why}`,
    text,
    usage ? `write it as ${usage}` : null
  );
}

/** A valid step name from any text (`Load-Data` -> `load_data`). */
export function fixStepName(name: string): string {
  const fixed = name
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .replace(/^[0-9_]+/, '');
  return fixed || 'step';
}

type Parser = (text: string, keyword: string, rest: string) => string[];

const stepName: Parser = (text, keyword, rest) => {
  if (rest === '' && (keyword === 'step' || keyword === 'block')) {
    return []; // Kale's empty step tag: the cell continues the block above
  }
  if (!STEP_NAME_RE.test(rest)) {
    throw new TagError(
      'invalid-step-name',
      `invalid step name '${rest}' in tag '${text}': step names are lower-case letters, digits and underscores, not starting with a digit`,
      text,
      `rename it, e.g. ${keyword}:${fixStepName(rest)}`
    );
  }
  return [rest];
};

const PARSERS: { [kind: string]: Parser } = {
  step: stepName,
  prev: stepName,
  notebook: stepName,
  image: (text, keyword, rest) => {
    if (!IMAGE_RE.test(rest)) {
      throw bad(text, 'not an image reference', keyword);
    }
    return [rest];
  },
  limit: resource,
  request: resource,
  cache: switchValue,
  report: switchValue,
  retry: count,
  timeout: count,
  env: (text, keyword, rest) => {
    const [name, sep, value] = partition(rest, '=');
    if (!sep || !ENV_NAME_RE.test(name)) {
      throw bad(text, 'expected NAME=VALUE with NAME an environment variable name', keyword);
    }
    return [name, value];
  },
  secret: nameKeyEnv,
  configmap: nameKeyEnv,
  'security-context': (text, keyword, rest) => {
    // Colon-separated: nbformat forbids commas in cell tags.
    const items = rest.split(':');
    const seen = new Set<string>();
    for (const item of items) {
      const [field, sep, value] = partition(item, '=');
      const kind = Object.prototype.hasOwnProperty.call(SECURITY_FIELDS, field)
        ? SECURITY_FIELDS[field]
        : null;
      if (!sep || kind === null) {
        throw bad(
          text,
          `expected FIELD=VALUE with FIELD one of ${Object.keys(SECURITY_FIELDS).join(', ')}`,
          keyword
        );
      }
      if (seen.has(field)) {
        throw bad(text, `${field} is given twice`, keyword);
      }
      seen.add(field);
      if (kind === 'bool' && value !== 'true' && value !== 'false') {
        throw bad(text, `${field} must be true or false`, keyword);
      }
      if (kind === 'id') {
        if (!/^[0-9]+$/.test(value) || (value !== '0' && value.startsWith('0'))) {
          throw bad(text, `${field} must be a whole number`, keyword);
        }
        if (value.length > 10 || parseInt(value, 10) > MAX_ID) {
          throw bad(text, `${field} must be at most ${MAX_ID}`, keyword);
        }
      }
    }
    return items;
  },
  annotation: keyValue,
  label: keyValue,
  'node-selector': keyValue,
  volume: (text, keyword, rest) => {
    const [pvc, sep, mount] = partition(rest, ':');
    if (!sep || !DNS_RE.test(pvc)) {
      throw bad(text, 'expected PVC:MOUNT_PATH with a PVC name', keyword);
    }
    if (!mount.startsWith('/') || /[\0\n\r:]/.test(mount)) {
      throw bad(text, 'the mount path must be an absolute path', keyword);
    }
    return [pvc, mount];
  },
  toleration: (text, keyword, rest) => {
    const [key, sep, tail] = partition(rest, ':');
    const [value, sep2, effect] = rpartition(tail, ':');
    if (!sep || !sep2 || !K8S_KEY_RE.test(key)) {
      throw bad(text, 'expected KEY:VALUE:EFFECT', keyword);
    }
    if (!LABEL_VALUE_RE.test(value)) {
      throw bad(text, `'${value}' is not a valid toleration value`, keyword);
    }
    if (!EFFECTS.includes(effect)) {
      throw bad(text, `effect must be one of ${EFFECTS.join(', ')}`, keyword);
    }
    return [key, value, effect];
  }
};

/** `secret:SECRET:KEY:ENV` and `configmap:CONFIG_MAP:KEY:ENV`. */
function nameKeyEnv(text: string, keyword: string, rest: string): string[] {
  const what = keyword === 'configmap' ? 'config map' : 'secret';
  const parts = rest.split(':');
  if (parts.length !== 3) {
    throw bad(text, `expected ${what.toUpperCase().replace(' ', '_')}:KEY:ENV`, keyword);
  }
  const [name, key, env] = parts;
  if (!DNS_RE.test(name) || !SECRET_KEY_RE.test(key) || !ENV_NAME_RE.test(env)) {
    throw bad(text, `${what} name, key or environment variable name is not valid`, keyword);
  }
  return parts;
}

function resource(text: string, keyword: string, rest: string): string[] {
  const [res, sep, value] = partition(rest, ':');
  if (!sep || !RESOURCE_RE.test(res)) {
    throw bad(text, 'expected RESOURCE:VALUE (e.g. memory:2Gi, nvidia.com/gpu:1)', keyword);
  }
  if (!QUANTITY_RE.test(value)) {
    throw bad(text, `'${value}' is not a Kubernetes quantity (e.g. 2Gi, 500m, 1)`, keyword);
  }
  return [res, value];
}

function switchValue(text: string, keyword: string, rest: string): string[] {
  if (rest !== 'enabled' && rest !== 'disabled') {
    throw bad(text, 'expected enabled or disabled', keyword);
  }
  return [rest];
}

function count(text: string, keyword: string, rest: string): string[] {
  if (!/^[0-9]+$/.test(rest) || (rest !== '0' && rest.startsWith('0'))) {
    throw bad(text, 'expected a whole number', keyword);
  }
  if (keyword === 'timeout' && parseInt(rest, 10) === 0) {
    throw bad(text, 'the timeout must be at least 1 second', keyword);
  }
  return [rest];
}

function keyValue(text: string, keyword: string, rest: string): string[] {
  const [key, sep, value] = partition(rest, ':');
  if (!sep || !K8S_KEY_RE.test(key)) {
    throw bad(text, 'expected KEY:VALUE with a Kubernetes key', keyword);
  }
  if (keyword !== 'annotation' && !LABEL_VALUE_RE.test(value)) {
    throw bad(text, `'${value}' is not a valid Kubernetes label value`, keyword);
  }
  return [key, value];
}

/** Parse one tag; throw `TagError` if it is not part of the grammar. */
export function parseTag(text: string): ITag {
  if (typeof text !== 'string') {
    throw new TagError('bad-tag', `a tag must be a string, got ${typeof text}`, String(text));
  }
  const [keyword, sep, rest] = partition(text, ':');
  const kind = Object.prototype.hasOwnProperty.call(ALIASES, keyword) ? ALIASES[keyword] : null;
  if (kind === null) {
    throw new TagError('unknown-tag', `unknown tag '${text}'`, text, `known tags: ${KNOWN_TAGS.join(', ')}`);
  }
  if (BARE_KINDS.has(kind)) {
    if (sep) {
      throw bad(text, `'${keyword}' takes no value`, keyword);
    }
    return { kind, keyword, args: [] };
  }
  if (!sep) {
    throw bad(text, `'${keyword}' needs a value`, keyword);
  }
  return { kind, keyword, args: PARSERS[kind](text, keyword, rest) };
}

/** The text of a tag; `formatTag(parseTag(t)) === t` for every valid `t`. */
export function formatTag(tag: ITag): string {
  if (tag.args.length === 0) {
    return tag.kind === 'step' ? `${tag.keyword}:` : tag.keyword;
  }
  if (tag.kind === 'env') {
    return `${tag.keyword}:${tag.args[0]}=${tag.args[1]}`;
  }
  return `${tag.keyword}:${tag.args.join(':')}`;
}

/** Parse without throwing: the tag or its error. */
export function tryParseTag(text: string): ITag | TagError {
  try {
    return parseTag(text);
  } catch (error) {
    if (error instanceof TagError) {
      return error;
    }
    throw error;
  }
}
