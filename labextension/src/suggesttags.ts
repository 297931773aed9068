/**
 * The pure part of "Suggest steps" (no JupyterLab imports, so jest loads it alone): the
 * server's answer, a text summary of it, and applying / restoring cell tags in one
 * transaction of the shared notebook model (one undo step).
 */
import type { IAnalysis } from './tokens';

/** The part of the `kale-like suggest --json` answer the panel shows. */
export interface ISuggestion {
  steps: Array<{
    name: string;
    cells: number[];
    after: string[];
    inputs: Record<string, string>;
    /** Global state (kind -> producer) the step receives, as in the analysis. */
    state?: Record<string, string>;
    seconds: number;
  }>;
  roles: Record<string, string>;
  tags: Record<string, string[]>;
  boundaries: Array<{ step: string; cell: number; reasons: string[] }>;
  notes: string[];
  single_step: string | null;
  width: number;
  serial_seconds: number;
  critical_path_seconds: number;
  timings: 'measured' | 'estimated';
}

/** What the shared notebook model must offer (a subset of `ISharedNotebook`). */
export interface ITaggable {
  cells: ReadonlyArray<{
    cell_type: string;
    getMetadata(key: string): unknown;
    setMetadata(key: string, value: unknown): void;
    deleteMetadata(key: string): void;
  }>;
  transact(f: () => void): void;
}

/** Tags of each cell before a change: what `restoreTags` puts back. */
export type TagSnapshot = Record<number, string[] | null>;

/** Apply `tags` (cell index -> full tag list) in one transaction; returns the old tags. */
export function applyTags(model: ITaggable, tags: Record<string, string[]>): TagSnapshot {
  const before: TagSnapshot = {};
  model.transact(() => {
    for (const [key, value] of Object.entries(tags)) {
      const index = Number(key);
      const cell = model.cells[index];
      if (!cell || cell.cell_type !== 'code') {
        continue; // the notebook changed since the suggestion: leave that cell alone
      }
      const old = cell.getMetadata('tags');
      before[index] = Array.isArray(old) ? [...(old as string[])] : null;
      cell.setMetadata('tags', [...value]);
    }
  });
  return before;
}

/** Put back the tags `applyTags` replaced, again in one transaction. */
export function restoreTags(model: ITaggable, before: TagSnapshot): void {
  model.transact(() => {
    for (const [key, value] of Object.entries(before)) {
      const cell = model.cells[Number(key)];
      if (!cell) {
        continue;
      }
      if (value === null) {
        cell.deleteMetadata('tags');
      } else {
        cell.setMetadata('tags', value);
      }
    }
  });
}

/** The proposal as an analysis of the tagged notebook, for the DAG drawing. */
export function proposalAnalysis(s: ISuggestion): IAnalysis {
  return {
    pipeline: { name: '', parameters: {}, metrics: [] },
    steps: s.steps.map(step => ({
      name: step.name,
      cells: step.cells,
      after: step.after,
      inputs: step.inputs,
      state: step.state ?? {},
      outputs: [],
      parameters: [],
      metrics: [],
      settings: {}
    })),
    diagnostics: []
  };
}

/** A plain-text summary of the proposal: roles, steps with edges, parallelism, reasons. */
export function summary(s: ISuggestion): string {
  const lines: string[] = [];
  for (const [cell, role] of Object.entries(s.roles)) {
    lines.push(`cell ${Number(cell) + 1}: ${role}`);
  }
  s.steps.forEach((step, i) => {
    const cells = step.cells.map(c => c + 1).join(', ');
    const after = step.after.length ? `  after: ${step.after.join(', ')}` : '';
    lines.push(`${i + 1}. ${step.name}  [cells ${cells}]  ~${step.seconds.toFixed(2)}s${after}`);
    const byProducer: Record<string, string[]> = {};
    for (const [v, p] of Object.entries(step.inputs)) {
      (byProducer[p] = byProducer[p] || []).push(v);
    }
    for (const [p, vs] of Object.entries(byProducer)) {
      lines.push(`     ${p} -> ${vs.join(', ')}`);
    }
  });
  lines.push(
    `parallelism: width ${s.width}; serial ~${s.serial_seconds.toFixed(2)}s, critical path ` +
      `~${s.critical_path_seconds.toFixed(2)}s (${s.timings})`
  );
  for (const b of s.boundaries) {
    lines.push(`before cell ${b.cell + 1} (${b.step}): ${b.reasons.join('; ')}`);
  }
  if (s.single_step) {
    lines.push(`one step only: ${s.single_step}`);
  }
  for (const n of s.notes) {
    lines.push(`note: ${n}`);
  }
  return lines.join('\n');
}
