/**
 * Pipeline settings in the notebook metadata under `kubeflow_notebook` (Kale's keys, so Kale
 * notebooks open unchanged and the CLI reads what the panel writes).
 */
import { INotebookModel } from '@jupyterlab/notebook';

import { METADATA_KEY } from './tokens';

export interface IPipelineSettings {
  enabled: boolean;
  pipeline_name: string;
  experiment_name: string;
  pipeline_description: string;
  base_image: string;
  registry: string;
  kfp_host: string;
  enable_caching: boolean;
}

export const FIELDS: Array<{ key: keyof IPipelineSettings; label: string; placeholder?: string }> = [
  { key: 'pipeline_name', label: 'Pipeline name', placeholder: 'my-pipeline' },
  { key: 'experiment_name', label: 'Experiment', placeholder: 'Default' },
  { key: 'pipeline_description', label: 'Description' },
  { key: 'base_image', label: 'Base image', placeholder: 'python:3.11-slim' },
  { key: 'registry', label: 'Registry', placeholder: 'localhost:5000/team' },
  { key: 'kfp_host', label: 'KFP endpoint', placeholder: 'http://localhost:8080' }
];

export function readSettings(model: INotebookModel): IPipelineSettings {
  const raw = (model.getMetadata(METADATA_KEY) ?? {}) as { [key: string]: any };
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    enabled: typeof raw.enabled === 'boolean' ? raw.enabled : looksLikePipeline(model),
    pipeline_name: str(raw.pipeline_name),
    experiment_name: str(raw.experiment_name ?? raw.experiment?.name),
    pipeline_description: str(raw.pipeline_description),
    base_image: str(raw.base_image ?? raw.docker_image),
    registry: str(raw.registry),
    kfp_host: str(raw.kfp_host),
    enable_caching: raw.enable_caching !== false
  };
}

/** A notebook with pipeline metadata or pipeline tags starts enabled; others opt in. */
export function looksLikePipeline(model: INotebookModel): boolean {
  if (model.getMetadata(METADATA_KEY)) {
    return true;
  }
  for (let i = 0; i < model.cells.length; i++) {
    const tags = model.cells.get(i).getMetadata('tags');
    if (Array.isArray(tags) && tags.some(t => typeof t === 'string' && PIPELINE_TAG.test(t))) {
      return true;
    }
  }
  return false;
}

const PIPELINE_TAG = /^(step|block|prev|imports|functions|pipeline-parameters|pipeline-metrics|skip)(:|$)/;

/** Write one setting, keeping every other key (Kale's included) untouched. */
export function writeSetting<K extends keyof IPipelineSettings>(
  model: INotebookModel,
  key: K,
  value: IPipelineSettings[K]
): void {
  const raw = { ...((model.getMetadata(METADATA_KEY) ?? {}) as { [key: string]: any }) };
  if (value === '') {
    delete raw[key];
  } else {
    raw[key] = value;
  }
  model.setMetadata(METADATA_KEY, raw);
}
