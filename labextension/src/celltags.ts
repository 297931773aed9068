/**
 * What the cell editor shows and writes: a cell's role (kind, step name, depends-on,
 * settings) read from and written back to its tags, pure. Unknown tags are kept as they are.
 */
import { formatTag, ITag, SETTING_KINDS, tryParseTag } from './tags';

export type CellKind = 'none' | 'step' | 'imports' | 'functions' | 'parameters' | 'metrics' | 'skip';

export const KIND_LABELS: Array<[CellKind, string]> = [
  ['none', 'continue step above'],
  ['step', 'step'],
  ['imports', 'imports'],
  ['functions', 'functions'],
  ['parameters', 'parameters'],
  ['metrics', 'metrics'],
  ['skip', 'skip']
];

const KIND_TAG: { [kind: string]: string } = {
  imports: 'imports',
  functions: 'functions',
  parameters: 'pipeline-parameters',
  metrics: 'pipeline-metrics',
  skip: 'skip'
};

export interface ICellRole {
  kind: CellKind;
  /** Step name as written (may be invalid: the analysis reports it). */
  name: string;
  /** The step keyword as the notebook spells it: `block` (Kale 0.x) is kept on rewrite. */
  keyword?: 'step' | 'block';
  /** An empty `step:`/`block:` tag (Kale: the cell continues the block above), kept as is. */
  continueTag?: string;
  prev: string[];
  /** Step setting tags (image, limit, env, ...) as text. */
  settings: string[];
  /** Tags the editor does not manage (kept in place). */
  other: string[];
}

/** Read a cell's role from its tags. */
export function readRole(tags: readonly string[]): ICellRole {
  const role: ICellRole = { kind: 'none', name: '', prev: [], settings: [], other: [] };
  for (const text of tags) {
    const parsed = tryParseTag(text);
    const keyword = text.split(':', 1)[0];
    if (!('kind' in parsed) || parsed instanceof Error) {
      // Invalid step/prev names still belong to the editor so the user can fix them.
      if (keyword === 'step' || keyword === 'block') {
        role.kind = 'step';
        role.keyword = keyword;
        role.name = text.slice(keyword.length + 1);
      } else if (keyword === 'prev') {
        role.prev.push(text.slice(5));
      } else if (SETTING_KINDS.has(keyword)) {
        role.settings.push(text); // the settings dialog shows it as an error in its field
      } else {
        role.other.push(text);
      }
      continue;
    }
    const tag = parsed as ITag;
    if (tag.kind === 'step' && tag.args.length === 0) {
      role.continueTag = text;
    } else if (tag.kind === 'step') {
      role.kind = 'step';
      role.keyword = tag.keyword === 'block' ? 'block' : 'step';
      role.name = tag.args[0];
    } else if (tag.kind === 'prev') {
      role.prev.push(tag.args[0]);
    } else if (tag.kind === 'pipeline-parameters') {
      role.kind = 'parameters';
    } else if (tag.kind === 'pipeline-metrics') {
      role.kind = 'metrics';
    } else if (tag.kind === 'imports' || tag.kind === 'functions' || tag.kind === 'skip') {
      role.kind = tag.kind as CellKind;
    } else if (SETTING_KINDS.has(tag.kind)) {
      role.settings.push(formatTag(tag));
    } else {
      role.other.push(text);
    }
  }
  return role;
}

/** The tags of a role (what the CLI reads). Steps carry prev and settings tags. */
export function writeRole(role: ICellRole): string[] {
  const tags: string[] = [];
  if (role.kind === 'step') {
    tags.push(`${role.keyword ?? 'step'}:${role.name}`);
    tags.push(...role.prev.map(p => `prev:${p}`));
    tags.push(...role.settings);
  } else if (role.kind !== 'none') {
    tags.push(KIND_TAG[role.kind]);
  } else if (role.continueTag) {
    tags.push(role.continueTag);
  }
  for (const t of role.other) {
    if (!tags.includes(t)) {
      tags.push(t);
    }
  }
  return tags;
}

/** Step names declared by the cells before `index` (the choices for depends-on). */
export function stepsBefore(allTags: ReadonlyArray<readonly string[]>, index: number): string[] {
  const names: string[] = [];
  for (let i = 0; i < Math.min(index, allTags.length); i++) {
    const role = readRole(allTags[i]);
    if (role.kind === 'step' && role.name && !names.includes(role.name)) {
      names.push(role.name);
    }
  }
  return names;
}

/**
 * Step of every cell from tags alone, by Kale's rules (as the analysis applies them): an
 * untagged cell (or an empty `step:` tag) joins the block above it, a step or an imports /
 * functions / parameters / metrics block; `skip` cells are transparent; untagged cells above
 * every tagged cell belong to no block. Without any step tag the notebook is one step
 * (its untagged cells are `''`: the step has no name in the tags).
 */
export function stepOfCells(
  cells: ReadonlyArray<{ type: string; tags: readonly string[] }>
): Array<string | null> {
  const roles = cells.map(cell => (cell.type === 'code' ? readRole(cell.tags) : null));
  const implicit = !roles.some(r => r !== null && r.kind === 'step');
  let current: string | null = null;
  return roles.map(role => {
    if (role === null) {
      return null;
    }
    if (role.kind === 'step') {
      current = role.name;
      return current;
    }
    if (role.kind === 'none') {
      return implicit ? '' : current;
    }
    if (role.kind !== 'skip') {
      current = null; // a prelude/parameters/metrics block: the cells below join it
    }
    return null;
  });
}
