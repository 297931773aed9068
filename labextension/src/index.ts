/**
 * kale-like JupyterLab extension: one plugin per feature.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { KaleModel } from './model';
import { IKaleModel } from './tokens';

/** Live analysis of the active notebook (debounced, server-side). */
const analysisPlugin: JupyterFrontEndPlugin<IKaleModel> = {
  id: 'kale-like:analysis',
  description: 'Live dependency analysis of the active notebook.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ISettingRegistry],
  provides: IKaleModel,
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    settings: ISettingRegistry | null
  ): IKaleModel => {
    const model = new KaleModel(tracker, {
      activate: panel => app.shell.activateById(panel.id)
    });
    if (settings) {
      // No await in activate: settings apply when they arrive.
      void settings
        .load('kale-like:analysis')
        .then(s => {
          const apply = () => {
            model.debounceMs = s.get('debounceMs').composite as number;
          };
          apply();
          s.changed.connect(apply);
        })
        .catch(reason => console.warn('kale-like: settings not loaded', reason));
    }
    return model;
  }
};

export default [analysisPlugin];
