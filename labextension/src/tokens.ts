/**
 * Interfaces shared by the plugins: the server's JSON contracts and the analysis model token.
 */
import { Token } from '@lumino/coreutils';
import { ISignal } from '@lumino/signaling';
import { NotebookPanel } from '@jupyterlab/notebook';

/** One finding of the analysis (`kale_like.diagnostics.Diagnostic.to_json`). */
export interface IDiagnostic {
  severity: 'error' | 'warning' | 'info';
  kind: string;
  cell: number | null;
  line: number | null;
  message: string;
  fix: string | null;
}

/** The JSON body of every error answered by the server extension. */
export interface IErrorBody {
  error: string;
  message: string;
  cell: number | null;
  line: number | null;
  tag?: string | null;
  fix?: string | null;
  diagnostics: IDiagnostic[];
}

export interface IParameterInfo {
  type: string;
  default: unknown;
}

export interface IStepInfo {
  name: string;
  cells: number[];
  after: string[];
  inputs: { [variable: string]: string };
  outputs: string[];
  parameters: string[];
  metrics: string[];
  settings: { [key: string]: unknown };
}

/** `POST /kale-like/analyze`: the same JSON as `kale-like analyze --format json`. */
export interface IAnalysis {
  pipeline: {
    name: string;
    description?: string | null;
    experiment?: string | null;
    parameters: { [name: string]: IParameterInfo };
    metrics: string[];
  };
  steps: IStepInfo[];
  diagnostics: IDiagnostic[];
}

export type StepStatus =
  | 'pending'
  | 'running'
  | 'cached'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'cancelled';

export interface IStepState {
  status: StepStatus;
  seconds: number;
  message?: string;
  report_url?: string;
  error?: string;
  cell?: number | null;
}

/** `GET /kale-like/runs/ID`. */
export interface IJobStatus {
  id: string;
  kind: string;
  notebook: string | null;
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  run_id: string | null;
  elapsed: number;
  steps: { [name: string]: IStepState };
  result: any;
  error: IErrorBody | null;
  log: string[];
}

export interface IJobStarted {
  id: string;
  status: string;
}

/** The analysis state of the active notebook. */
export interface IAnalysisState {
  panel: NotebookPanel | null;
  analysis: IAnalysis | null;
  /** An error answered instead of an analysis (bad tags, syntax errors...). */
  error: IErrorBody | null;
  /** Diagnostics by cell index (analysis diagnostics and the error's). */
  byCell: Map<number, IDiagnostic[]>;
  pending: boolean;
}

/** Live, debounced analysis of the active notebook (provided by `kale-like:analysis`). */
export interface IKaleModel {
  readonly state: IAnalysisState;
  readonly changed: ISignal<IKaleModel, IAnalysisState>;
  /** Analyse now (skipping the debounce). */
  refresh(): Promise<void>;
  /** Activate and scroll to a cell of the current notebook. */
  revealCell(index: number): void;
}

export const IKaleModel = new Token<IKaleModel>(
  'kale-like:IKaleModel',
  'Live dependency analysis of the active notebook.'
);

export const NAMESPACE = 'kale-like';
/** Notebook metadata key (Kale compatible). */
export const METADATA_KEY = 'kubeflow_notebook';
