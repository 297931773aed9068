/**
 * "Suggest steps": ask the server for a step split of the open notebook
 * (`POST /kale-like/suggest`), show it (its DAG and the reasons), and on confirmation write
 * the tags into the notebook as one undoable edit: one `sharedModel.transact`, recorded by the
 * notebook's undo history, so Edit > Undo Cell Operation (`Z` in command mode) takes it back
 * whole. Ctrl+Z is the active cell editor's text undo and does not. "Pipeline: Undo suggested
 * steps" does the same explicitly.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { renderDag } from './dagview';
import { postAPI } from './request';
import {
  applyTags,
  ISuggestion,
  ITaggable,
  proposalAnalysis,
  restoreTags,
  summary,
  TagSnapshot
} from './suggesttags';

/** The proposed graph (as the panel will draw it once applied) above the text summary. */
function proposalBody(s: ISuggestion): Widget {
  const node = document.createElement('div');
  node.className = 'jp-kale-suggestion-body';
  const graph = document.createElement('div');
  graph.className = 'jp-kale-suggestion-dag';
  graph.appendChild(renderDag(proposalAnalysis(s)));
  const pre = document.createElement('pre');
  pre.className = 'jp-kale-suggestion';
  pre.textContent = summary(s);
  node.append(graph, pre);
  return new Widget({ node });
}

/** Ask, show, apply on confirmation. Returns the snapshot for undo, or null. */
export async function suggestSteps(panel: NotebookPanel): Promise<TagSnapshot | null> {
  const model = panel.content.model;
  if (!model) {
    return null;
  }
  let s: ISuggestion;
  try {
    s = await postAPI<ISuggestion>('suggest', {
      notebook: model.toJSON(),
      path: panel.context.path
    });
  } catch (error) {
    await showErrorMessage('Suggest steps', String((error as Error).message || error));
    return null;
  }
  const changes = Object.keys(s.tags).length;
  const answer = await showDialog({
    title: `Suggested pipeline: ${s.steps.length} step(s)`,
    body: proposalBody(s),
    buttons: [
      Dialog.cancelButton(),
      Dialog.okButton({ label: changes ? `Apply tags to ${changes} cell(s)` : 'OK' })
    ]
  });
  if (!answer.button.accept || !changes) {
    return null;
  }
  return applyTags(model.sharedModel as unknown as ITaggable, s.tags);
}

/** Commands "Pipeline: Suggest steps" and "Pipeline: Undo suggested steps". */
export const suggestPlugin: JupyterFrontEndPlugin<void> = {
  id: 'kale-like:suggest',
  description: 'Suggest a step split for an untagged notebook from its data flow.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null
  ): void => {
    const applied = new WeakMap<NotebookPanel, TagSnapshot>();
    app.commands.addCommand('kale-like:suggest', {
      label: 'Pipeline: Suggest steps',
      isEnabled: () => tracker.currentWidget !== null,
      execute: async () => {
        const panel = tracker.currentWidget;
        if (!panel) {
          return;
        }
        const before = await suggestSteps(panel);
        if (before) {
          applied.set(panel, before);
        }
      }
    });
    app.commands.addCommand('kale-like:suggest-undo', {
      label: 'Pipeline: Undo suggested steps',
      isEnabled: () => !!tracker.currentWidget && applied.has(tracker.currentWidget),
      execute: () => {
        const panel = tracker.currentWidget;
        const before = panel ? applied.get(panel) : undefined;
        if (panel && before && panel.content.model) {
          restoreTags(panel.content.model.sharedModel as unknown as ITaggable, before);
          applied.delete(panel);
        }
      }
    });
    for (const command of ['kale-like:suggest', 'kale-like:suggest-undo']) {
      palette?.addItem({ command, category: 'Kubeflow pipeline' });
    }
  }
};
