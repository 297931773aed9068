/**
 * The sweep dialog's choices <-> Kale's `kubeflow_notebook.katib_metadata` block, pure, so a
 * sweep started in the UI is the one `kale-like sweep notebook.ipynb` runs (and the other way
 * round). Mirrors `spec_from_katib` / `katib_parameter` in `kale_like/sweep/space.py`.
 */

/** What the dialog edits (the same fields `ISweepOptions` carries). */
export interface ISweepChoice {
  params: { [name: string]: string };
  objective: string;
  maximize: boolean;
  algorithm: string;
  trials: number | null;
  parallel: number;
}

type Json = { [key: string]: any };

/** Katib's algorithm names -> the dialog's (grid, random, tpe). */
const FROM_KATIB: { [name: string]: string } = {
  grid: 'grid',
  random: 'random',
  tpe: 'tpe',
  bayesian: 'tpe',
  bayesianoptimization: 'tpe'
};

/** One `katib_metadata.parameters` entry -> `[name, SPEC]`, or null when unusable. */
export function specFromKatib(entry: Json): [string, string] | null {
  const name = typeof entry?.name === 'string' ? entry.name.trim() : '';
  const type = String(entry?.parameterType ?? '').trim().toLowerCase();
  const space: Json = entry?.feasibleSpace && typeof entry.feasibleSpace === 'object' ? entry.feasibleSpace : null;
  if (!name || !space) {
    return null;
  }
  const list = Array.isArray(space.list) ? space.list : [];
  if (type === 'categorical' || type === 'discrete' || list.length) {
    return list.length ? [name, `choice:${list.map(String).join(',')}`] : null;
  }
  const { min, max, step } = space;
  if (min === undefined || min === null || max === undefined || max === null) {
    return null;
  }
  if (step !== undefined && step !== null && step !== '') {
    return [name, `range:${min}:${max}:${step}`];
  }
  if (type === 'int') {
    return [name, `int:${min}:${max}`];
  }
  const log = String(space.distribution ?? '').toLowerCase() === 'loguniform';
  return [name, `${log ? 'loguniform' : 'uniform'}:${min}:${max}`];
}

/** The dialog's starting values from a `katib_metadata` block (only what it sets). */
export function choiceFromKatib(block: unknown): Partial<ISweepChoice> {
  if (!block || typeof block !== 'object') {
    return {};
  }
  const meta = block as Json;
  const out: Partial<ISweepChoice> = {};
  const params: { [name: string]: string } = {};
  for (const entry of Array.isArray(meta.parameters) ? meta.parameters : []) {
    const pair = specFromKatib(entry);
    if (pair) {
      params[pair[0]] = pair[1];
    }
  }
  if (Object.keys(params).length) {
    out.params = params;
  }
  const objective = meta.objective ?? {};
  if (typeof objective.objectiveMetricName === 'string' && objective.objectiveMetricName) {
    out.objective = objective.objectiveMetricName;
  }
  const type = String(objective.type ?? '').toLowerCase();
  if (type === 'maximize' || type === 'minimize') {
    out.maximize = type === 'maximize';
  }
  const algorithm = FROM_KATIB[String(meta.algorithm?.algorithmName ?? '').toLowerCase()];
  if (algorithm) {
    out.algorithm = algorithm;
  }
  const count = (v: unknown) => (Number.isInteger(v) && (v as number) >= 1 ? (v as number) : null);
  if (count(meta.maxTrialCount) !== null) {
    out.trials = count(meta.maxTrialCount);
  }
  if (count(meta.parallelTrialCount) !== null) {
    out.parallel = count(meta.parallelTrialCount)!;
  }
  return out;
}

/** A Katib `ParameterSpec` for `name=SPEC` (`type`: the parameter's type, e.g. int/float). */
export function katibParameter(name: string, spec: string, type: string): Json {
  const colon = spec.indexOf(':');
  const kind = spec.slice(0, colon).trim().toLowerCase();
  const rest = spec.slice(colon + 1);
  if (kind === 'choice') {
    return { name, parameterType: 'categorical', feasibleSpace: { list: rest.split(',').map(v => v.trim()) } };
  }
  const [min, max, step] = rest.split(':').map(v => v.trim());
  const space: Json = { min, max };
  if (kind === 'range') {
    space.step = step;
  }
  if (kind === 'loguniform') {
    space.distribution = 'logUniform';
  }
  return { name, parameterType: type === 'int' || kind === 'int' ? 'int' : 'double', feasibleSpace: space };
}

/**
 * The `katib_metadata` block for the dialog's choices, keeping what the dialog does not edit
 * (e.g. the objective's goal, `maxFailedTrialCount`) from `previous`.
 */
export function katibFromChoice(
  choice: ISweepChoice,
  types: { [name: string]: string },
  previous: unknown = {}
): Json {
  const prev: Json = previous && typeof previous === 'object' ? { ...(previous as Json) } : {};
  const block: Json = {
    ...prev,
    parameters: Object.entries(choice.params).map(([name, spec]) => katibParameter(name, spec, types[name] ?? '')),
    objective: {
      ...(prev.objective ?? {}),
      type: choice.maximize ? 'maximize' : 'minimize',
      objectiveMetricName: choice.objective
    },
    algorithm: { ...(prev.algorithm ?? {}), algorithmName: choice.algorithm },
    parallelTrialCount: choice.parallel
  };
  if (choice.trials === null) {
    delete block.maxTrialCount; // the whole grid, or the CLI's default
  } else {
    block.maxTrialCount = choice.trials;
  }
  return block;
}
