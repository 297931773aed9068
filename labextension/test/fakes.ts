/**
 * Small stand-ins for a notebook panel and tracker: just the surface the model and panel
 * use (metadata, cells, change signals, the context's path and ready promise).
 */
import { Signal } from '@lumino/signaling';

export interface IFakePanel {
  model: any;
  context: any;
  content: any;
  disposed: Signal<any, void>;
  /** Simulate an edit of the notebook's content. */
  edit(): void;
}

export function fakePanel(path: string, metadata: Record<string, unknown> = { kubeflow_notebook: {} }): IFakePanel {
  const meta: Record<string, unknown> = { ...metadata };
  const owner = {};
  const contentChanged = new Signal<any, void>(owner);
  const model = {
    contentChanged,
    metadataChanged: new Signal<any, void>(owner),
    cells: { length: 0, get: () => undefined, changed: new Signal<any, void>(owner) },
    getMetadata: (k: string) => meta[k],
    setMetadata: (k: string, v: unknown) => {
      meta[k] = v;
      model.metadataChanged.emit();
    },
    toJSON: () => ({ path, metadata: meta }),
    dirty: false
  };
  const panel: IFakePanel = {
    model,
    context: { path, ready: Promise.resolve(), model, save: jest.fn(async () => undefined) },
    content: { widgets: [], activeCellIndex: 0, scrollToCell: jest.fn() },
    disposed: new Signal<any, void>(owner),
    edit: () => contentChanged.emit()
  };
  return panel;
}

export function fakeTracker(): { currentWidget: any; currentChanged: Signal<any, any>; show(p: IFakePanel | null): void } {
  const tracker = {
    currentWidget: null as any,
    currentChanged: new Signal<any, any>({}),
    show(p: IFakePanel | null) {
      tracker.currentWidget = p;
      tracker.currentChanged.emit(p);
    }
  };
  return tracker;
}

/** A promise with its resolve/reject exposed: answers arrive when the test says so. */
export function deferred<T>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Let pending promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
}

/** A minimal analysis with the given steps in a chain. */
export function analysis(...steps: string[]): any {
  return {
    pipeline: { name: 'p', parameters: {}, metrics: [] },
    steps: steps.map((name, i) => ({
      name, cells: [i], after: i ? [steps[i - 1]] : [], inputs: {}, outputs: [], parameters: [], metrics: [], settings: {}
    })),
    diagnostics: []
  };
}
