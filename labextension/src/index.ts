/**
 * kale-like JupyterLab extension: one plugin per feature.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { CellEditorManager } from './cellmanager';
import { KaleModel } from './model';
import { ACTIONS, KalePanel } from './panel';
import { reportWidget } from './reportview';
import { suggestPlugin } from './suggest';
import { IKaleModel } from './tokens';

const pipelineIcon = new LabIcon({
  name: 'kale-like:pipeline',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161">' +
    '<rect x="9" y="2" width="6" height="5" rx="1"/><rect x="2" y="16" width="6" height="5" rx="1"/>' +
    '<rect x="16" y="16" width="6" height="5" rx="1"/><path d="M11 7h2v4h6v5h-2v-3H7v3H5v-5h6z"/></g></svg>'
});

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

/** The left deploy panel, plus one command per deploy action. */
const panelPlugin: JupyterFrontEndPlugin<void> = {
  id: 'kale-like:panel',
  description: 'Left panel: pipeline settings, Deploy actions with progress, DAG.',
  autoStart: true,
  requires: [IKaleModel],
  optional: [ILayoutRestorer, ICommandPalette, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    model: IKaleModel,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    settings: ISettingRegistry | null
  ): void => {
    let pollMs = 500;
    void settings
      ?.load('kale-like:analysis')
      .then(s => {
        const apply = () => {
          pollMs = s.get('pollMs').composite as number;
        };
        apply();
        s.changed.connect(apply);
      })
      .catch(reason => console.warn('kale-like: settings not loaded', reason));
    const openReport = (url: string, title: string) => {
      // One tab per report: clicking the link again shows (and reloads) the open tab.
      const widget = reportWidget(url, title);
      const open = Array.from(app.shell.widgets('main')).find(w => w.id === widget.id);
      if (open) {
        widget.dispose();
        void (open as typeof widget).content.load();
        app.shell.activateById(open.id);
        return;
      }
      app.shell.add(widget, 'main', { mode: 'split-right' });
      app.shell.activateById(widget.id);
    };
    const panel = new KalePanel(model, { pollMs: () => pollMs, openReport });
    panel.title.icon = pipelineIcon;
    app.shell.add(panel, 'left', { rank: 600 });
    restorer?.add(panel, panel.id);
    for (const [action, label] of ACTIONS) {
      const command = `kale-like:${action}`;
      app.commands.addCommand(command, {
        label: `Pipeline: ${label}`,
        isEnabled: () => model.state.panel !== null,
        execute: () => panel.perform(action)
      });
      palette?.addItem({ command, category: 'Kubeflow pipeline' });
    }
  }
};

/** The step editor above every code cell (kind, step name, depends-on, settings). */
const cellEditorPlugin: JupyterFrontEndPlugin<void> = {
  id: 'kale-like:cell-editor',
  description: 'Per-cell pipeline step editor with step colours and diagnostics.',
  autoStart: true,
  requires: [INotebookTracker, IKaleModel],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, model: IKaleModel): void => {
    tracker.widgetAdded.connect((_, panel) => {
      new CellEditorManager(panel, model);
    });
    tracker.forEach(panel => new CellEditorManager(panel, model));
  }
};

export default [analysisPlugin, panelPlugin, cellEditorPlugin, suggestPlugin];
