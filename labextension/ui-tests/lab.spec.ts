/**
 * The JupyterLab experience end to end, in a real lab: cell editor -> tags, live DAG with
 * variables, Run locally with per-step progress and metrics, diagnostics next to a cell with a
 * bad tag, and the ipywidgets panel. The notebooks are written by tests/browser/test_lab.py.
 */
import { expect, Locator, Page, test } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = process.env.KALE_LIKE_ROOT ?? '';
const SHOTS = path.resolve(__dirname, '..', '..', 'test-output', 'screenshots');

test.describe.configure({ mode: 'serial' });

async function openNotebook(page: Page, name: string): Promise<void> {
  await page.goto(`lab/tree/${name}?reset`);
  await expect(page.locator('.jp-NotebookPanel .jp-Cell').first()).toBeVisible({ timeout: 60_000 });
  await expect(page.locator('.jp-NotebookPanel .jp-Cell .kale-cell-editor').first()).toBeVisible();
}

async function openPanel(page: Page): Promise<Locator> {
  const panel = page.locator('#kale-like-panel');
  if (!(await panel.isVisible())) {
    await page.locator('.jp-SideBar .lm-TabBar-tab[data-id="kale-like-panel"]').click();
  }
  await expect(panel).toBeVisible();
  return panel;
}

function cell(page: Page, index: number): Locator {
  return page.locator('.jp-NotebookPanel:visible .jp-Notebook .jp-Cell').nth(index);
}

function savedTags(name: string): string[][] {
  const nb = JSON.parse(fs.readFileSync(path.join(ROOT, name), 'utf-8'));
  return nb.cells.map((c: any) => c.metadata?.tags ?? []);
}

async function save(page: Page): Promise<void> {
  // A busy machine can drop the key press while focus moves; retry until lab says saved.
  const dirty = page.locator('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty');
  await expect(async () => {
    await page.locator('.jp-NotebookPanel:visible .jp-Notebook').press('Control+s');
    await expect(dirty).toHaveCount(0, { timeout: 5_000 });
  }).toPass({ timeout: 60_000 });
}

test('tag a cell as a new step, see the DAG, run locally', async ({ page }) => {
  fs.mkdirSync(SHOTS, { recursive: true });
  await openNotebook(page, 'pipeline.ipynb');
  const panel = await openPanel(page);
  // The analysis of the notebook as written: load -> report.
  await expect(panel.locator('.kale-dag-node[data-step="load"]')).toBeVisible();
  await expect(panel.locator('.kale-dag-edge[data-from="load"][data-to="report"]')).toBeVisible();

  // Cell 3 joins `load`; make it the step `summarize` through the cell editor.
  const target = cell(page, 3);
  await target.locator('select.kale-kind').selectOption('step');
  const name = target.locator('input.kale-step-name');
  await name.fill('summarize');
  await name.press('Enter');

  // The DAG follows (debounced analysis of the unsaved notebook) with the right variables.
  const edge = panel.locator('.kale-dag-edge[data-from="summarize"][data-to="report"]');
  await expect(edge).toHaveAttribute('data-variables', 'biggest,total');
  await expect(panel.locator('.kale-dag-edge[data-from="load"][data-to="summarize"]')).toHaveAttribute(
    'data-variables',
    'xs'
  );
  await expect(target).toHaveClass(/kale-step-cell/);
  await target.screenshot({ path: path.join(SHOTS, 'cell-editor.png') });

  // The tags the CLI reads are in the saved notebook.
  await save(page);
  await expect.poll(() => savedTags('pipeline.ipynb')[3]).toEqual(['step:summarize']);

  // Run locally: every step succeeds and the metric appears.
  await panel.getByRole('button', { name: 'Deploy: run locally' }).click();
  const header = panel.locator('.kale-job-header');
  await expect(header).toHaveAttribute('data-status', 'succeeded', { timeout: 90_000 });
  const rows = panel.locator('table.kale-steps tr[data-step]');
  await expect(rows).toHaveCount(3);
  for (const step of ['load', 'summarize', 'report']) {
    await expect(panel.locator(`tr[data-step="${step}"]`)).toHaveAttribute('data-status', /succeeded|cached/);
    await expect(panel.locator(`tr[data-step="${step}"] a`)).toHaveAttribute('href', /kale-like\/reports\//);
  }
  await expect(panel.locator('dd[data-metric="ratio"]')).toHaveText('1.875');
  await panel.screenshot({ path: path.join(SHOTS, 'panel.png') });
  await page.screenshot({ path: path.join(SHOTS, 'lab.png') });

  // A step report opens from its link (served by the extension from the run root).
  const href = await panel.locator('tr[data-step="report"] a').getAttribute('href');
  const report = await page.request.get(href!);
  expect(report.status()).toBe(200);
  expect(await report.text()).toContain('ratio');
});

for (const [file, keyword] of [
  ['kale07.ipynb', 'block'],
  ['kale23.ipynb', 'step']
]) {
  test(`a Kale notebook (${keyword}:) round-trips through the cell editor`, async ({ page }) => {
    await openNotebook(page, file);
    const panel = await openPanel(page);
    // The empty tag continues `load`: the DAG has two steps, load -> report.
    await expect(panel.locator('.kale-dag-edge[data-from="load"][data-to="report"]')).toBeVisible();
    await expect(panel.locator('.kale-dag-node')).toHaveCount(2);
    // Rename `report` in the editor; its spelling (block: or step:) and every other tag stay.
    const name = cell(page, 3).locator('input.kale-step-name');
    await name.fill('summary');
    await name.press('Enter');
    await expect(panel.locator('.kale-dag-node[data-step="summary"]')).toBeVisible();
    await save(page);
    await expect
      .poll(() => savedTags(file))
      .toEqual([['imports'], [`${keyword}:load`], [`${keyword}:`], [`${keyword}:summary`, 'prev:load']]);
  });
}

test('a bad tag shows its diagnostic next to the cell', async ({ page }) => {
  await openNotebook(page, 'pipeline.ipynb');
  const panel = await openPanel(page);
  const target = cell(page, 3);
  const name = target.locator('input.kale-step-name');
  await name.fill('Bad-Name');
  await name.press('Enter');
  const diagnostic = target.locator('.kale-cell-diagnostics .kale-diagnostic[data-kind="invalid-step-name"]');
  await expect(diagnostic).toBeVisible();
  await expect(diagnostic).toContainText('Bad-Name');
  await expect(panel.locator('.kale-diagnostics .kale-diagnostic[data-kind="invalid-step-name"]')).toBeVisible();
  await target.screenshot({ path: path.join(SHOTS, 'cell-diagnostic.png') });
  // Fixing the name clears it.
  await name.fill('summarize');
  await name.press('Enter');
  await expect(diagnostic).toHaveCount(0);
  await expect(panel.locator('.kale-dag-node[data-step="summarize"]')).toBeVisible();
});

test('the step settings dialog writes setting tags', async ({ page }) => {
  await openNotebook(page, 'pipeline.ipynb');
  const load = cell(page, 2);
  await load.getByRole('button', { name: 'Settings of step load' }).click();
  const dialog = page.locator('.jp-Dialog');
  await dialog.getByLabel('Memory limit').fill('2Gi');
  await dialog.getByLabel('Cache').selectOption('disabled');
  await dialog.getByLabel('Environment (NAME=VALUE per line)').fill('LOG_LEVEL=debug');
  await dialog.getByLabel('Config maps (CONFIG_MAP:KEY:ENV per line)').fill('app-config:log.level:APP_LOG');
  await dialog.getByLabel('Run as user (UID)').fill('1000');
  await dialog.getByLabel('Run as non-root').selectOption('true');
  await dialog.locator('.jp-Dialog-content').screenshot({ path: path.join(SHOTS, 'step-settings.png') });
  await dialog.getByRole('button', { name: 'Save' }).click();
  await expect(load.getByRole('button', { name: 'Settings of step load' })).toHaveText('settings (5)');
  await save(page);
  await expect
    .poll(() => savedTags('pipeline.ipynb')[2])
    .toEqual([
      'step:load',
      'limit:memory:2Gi',
      'cache:disabled',
      'env:LOG_LEVEL=debug',
      'configmap:app-config:log.level:APP_LOG',
      'security-context:run_as_user=1000:run_as_non_root=true'
    ]);
  // The analysis reads them as the step's settings.
  await expect(page.locator('.kale-cell-diagnostics .kale-error')).toHaveCount(0);

  // Depends on: the earlier steps, as prev: tags.
  const report = cell(page, 4);
  await report.locator('details.kale-depends summary').click();
  const load2 = report.getByRole('checkbox', { name: 'Depends on load' });
  await expect(report.getByRole('checkbox', { name: 'Depends on summarize' })).toBeVisible();
  await load2.check();
  await expect(report.locator('details.kale-depends summary')).toHaveText('depends on: load');
  await save(page);
  await expect.poll(() => savedTags('pipeline.ipynb')[4]).toEqual(['step:report', 'prev:load']);
  const panel = await openPanel(page);
  await expect(panel.locator('.kale-dag-edge[data-from="load"][data-to="report"]')).toHaveAttribute('data-variables', '');
  await load2.uncheck();
  await expect.poll(async () => (await save(page), savedTags('pipeline.ipynb')[4])).toEqual(['step:report']);
});

test('keyboard: the Deploy menu opens and moves with the arrow keys', async ({ page }) => {
  await openNotebook(page, 'pipeline.ipynb');
  const panel = await openPanel(page);
  const toggle = panel.getByRole('button', { name: 'More deploy actions' });
  await toggle.focus();
  await toggle.press('ArrowDown');
  const menu = panel.getByRole('menu', { name: 'Deploy actions' });
  await expect(menu).toBeVisible();
  await expect(menu.getByRole('menuitem', { name: 'Run locally' })).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(menu.getByRole('menuitem', { name: 'Compile' })).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(menu).toBeHidden();
  await expect(toggle).toBeFocused();
});

test('keyboard: keys typed in the step editor stay in the field', async ({ page }) => {
  await openNotebook(page, 'pipeline.ipynb');
  const cells = page.locator('.jp-NotebookPanel:visible .jp-Notebook .jp-Cell');
  const count = savedTags('pipeline.ipynb').length; // the cells on disk
  await expect(cells).toHaveCount(count);
  const name = cell(page, 4).locator('input.kale-step-name');
  const before = await name.inputValue();
  await name.click();
  // In command mode `d d` deletes a cell and `a`/`b` insert cells: none of that may happen.
  await name.pressSequentially('_ddab');
  await expect(name).toHaveValue(`${before}_ddab`);
  await expect(cells).toHaveCount(count);
  for (let i = 0; i < 5; i++) {
    await name.press('Backspace');
  }
  await name.press('Enter');
  await expect(name).toHaveValue(before);
  await expect(cells).toHaveCount(count);
});

test('a failing step shows its error and jumps to its cell', async ({ page }) => {
  await openNotebook(page, 'failing.ipynb');
  const panel = await openPanel(page);
  await panel.getByRole('button', { name: 'Deploy: run locally' }).click();
  await expect(panel.locator('.kale-job-header')).toHaveAttribute('data-status', 'failed', { timeout: 90_000 });
  await expect(panel.locator('tr[data-step="divide"]')).toHaveAttribute('data-status', 'failed');
  await expect(panel.locator('.kale-error')).toContainText('ZeroDivisionError');
  await cell(page, 0).click();
  await expect(cell(page, 2)).not.toHaveClass(/jp-mod-active/);
  await panel.getByRole('button', { name: 'Go to cell 2' }).first().click();
  await expect(cell(page, 2)).toHaveClass(/jp-mod-active/);
});

test('the sweep dialog runs a grid sweep and marks the best trial', async ({ page }) => {
  await openNotebook(page, 'pipeline.ipynb');
  const panel = await openPanel(page);
  await panel.getByRole('button', { name: 'More deploy actions' }).click();
  await panel.getByRole('menuitem', { name: 'Sweep…' }).click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog.locator('.kale-sweep-dialog')).toBeVisible();
  await dialog.getByLabel('Sweep n').check();
  await dialog.getByLabel('Search space of n').fill('choice:3,5');
  await expect(dialog.getByLabel('Objective metric')).toHaveValue('ratio');
  await dialog.getByLabel('Direction').selectOption('maximize');
  await dialog.locator('.jp-Dialog-content').screenshot({ path: path.join(SHOTS, 'sweep-dialog.png') });
  await dialog.getByRole('button', { name: 'Start sweep' }).click();
  await expect(panel.locator('.kale-job-header')).toHaveAttribute('data-status', 'succeeded', { timeout: 90_000 });
  const trials = panel.getByRole('table', { name: 'Sweep trials' });
  await expect(trials.locator('tbody tr')).toHaveCount(2);
  // Ground truth: ratio = sum(i*i) / max(i*i) for i < n is 1.25 for n=3 and 1.875 for n=5.
  await expect(trials.locator('tr.kale-best')).toContainText('1.875');
  await expect(panel.locator('.kale-best-summary')).toContainText('"n":5');
  await panel.screenshot({ path: path.join(SHOTS, 'sweep-results.png') });
  // The sweep is saved as Kale's katib_metadata (what `kale-like sweep pipeline.ipynb` reads)
  // and the dialog opens with it next time.
  const saved = JSON.parse(fs.readFileSync(path.join(ROOT, 'pipeline.ipynb'), 'utf-8'));
  expect(saved.metadata.kubeflow_notebook.katib_metadata).toEqual({
    parameters: [{ name: 'n', parameterType: 'categorical', feasibleSpace: { list: ['3', '5'] } }],
    objective: { type: 'maximize', objectiveMetricName: 'ratio' },
    algorithm: { algorithmName: 'grid' },
    parallelTrialCount: 2
  });
  await panel.getByRole('button', { name: 'More deploy actions' }).click();
  await panel.getByRole('menuitem', { name: 'Sweep…' }).click();
  await expect(dialog.getByLabel('Sweep n')).toBeChecked();
  await expect(dialog.getByLabel('Search space of n')).toHaveValue('choice:3,5');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
});

test('the ipywidgets panel renders and starts a local run', async ({ page }) => {
  await page.goto('lab/tree/widgets.ipynb?reset');
  await expect(cell(page, 0)).toBeVisible({ timeout: 60_000 });
  // Not a pipeline notebook (no kale tags or metadata): no step editors until enabled.
  await expect(page.locator('.jp-NotebookPanel:visible .kale-cell-editor:visible')).toHaveCount(0);
  // The panel's toggle turns the step editor on (and off again) for this notebook.
  const panel = await openPanel(page);
  const toggle = panel.getByRole('switch', { name: 'Enable pipeline' });
  await expect(toggle).not.toBeChecked();
  await toggle.check();
  await expect(page.locator('.jp-NotebookPanel:visible .kale-cell-editor:visible')).toHaveCount(1);
  await expect(panel.locator('.kale-dag-node[data-step]')).toHaveCount(1);
  await panel.getByRole('switch', { name: 'Enable pipeline' }).uncheck();
  await expect(page.locator('.jp-NotebookPanel:visible .kale-cell-editor:visible')).toHaveCount(0);
  await expect(page.locator('.jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status="idle"]')).toBeAttached({ timeout: 60_000 });
  const runButton = page.locator('.widget-button', { hasText: 'Run locally' });
  // An execution sent while the kernel connection settles can be dropped: retry a few times.
  for (let attempt = 0; attempt < 3 && !(await runButton.isVisible()); attempt++) {
    await cell(page, 0).locator('.jp-InputArea-editor').click();
    await page.keyboard.press('Shift+Enter');
    await runButton.waitFor({ state: 'visible', timeout: 20_000 }).catch(() => undefined);
  }
  await expect(runButton).toBeVisible();
  await runButton.click();
  const status = page.locator('.kale-widget-status');
  await expect(status).toContainText('succeeded', { timeout: 90_000 });
  await expect(page.locator('.kale-widget-metrics')).toContainText('1.875');
  await page.locator('.jp-OutputArea-output').first().screenshot({ path: path.join(SHOTS, 'widgets.png') });
});
