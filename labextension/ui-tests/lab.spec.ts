/**
 * The JupyterLab experience end to end, in a real lab: cell editor -> tags, live DAG with
 * variables, Run locally with per-step progress and metrics, diagnostics next to a cell with a
 * bad tag, and the ipywidgets panel. The notebooks are written by tests/browser/test_lab.py.
 */
import { expect, Locator, Page, test } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = process.env.KALE_LIKE_ROOT ?? '';
const SHOTS = path.resolve(__dirname, '..', '..', 'test-output', 'screenshots');

test.describe.configure({ mode: 'serial' });

async function openNotebook(page: Page, name: string, pipeline = true): Promise<void> {
  await page.goto(`lab/tree/${name}?reset`);
  await expect(page.locator('.jp-NotebookPanel .jp-Cell').first()).toBeVisible({ timeout: 60_000 });
  if (pipeline) {
    // Not a pipeline yet (no tags, not enabled): the cell editors stay hidden.
    await expect(page.locator('.jp-NotebookPanel .jp-Cell .kale-cell-editor').first()).toBeVisible();
  }
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
  expect(report.headers()['content-type']).toMatch(/^text\/html/);
  expect(await report.text()).toContain('ratio');

  // Clicking it opens the rendered report in a JupyterLab tab, in a sandboxed iframe.
  await panel.locator('tr[data-step="report"] a').click();
  const tab = page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'Report: report' });
  await expect(tab).toBeVisible();
  const frame = page.locator('.kale-report-frame');
  await expect(frame).toBeVisible();
  await expect(frame).toHaveAttribute('sandbox', '');
  const body = page.frameLocator('.kale-report-frame').locator('body');
  await expect(body).toContainText('ratio');
  // Rendered, not shown as markup: the page is made of elements and no tag shows as text.
  await expect(body).toContainText('ratio = total / biggest');
  expect(await page.frameLocator('.kale-report-frame').locator('body *').count()).toBeGreaterThan(3);
  expect(await body.innerText()).not.toMatch(/<\/?(!DOCTYPE|html|head|body|div|pre|style|table)\b/i);
  await page.screenshot({ path: path.join(SHOTS, 'report-tab.png') });
  expect(await page.locator('.jp-NotebookPanel').count()).toBeGreaterThan(0); // the notebook stays open
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
  // Every tag the dialog writes, it can remove: clear each field, save, only the step is left.
  await load.getByRole('button', { name: 'Settings of step load' }).click();
  for (const field of ['Memory limit', 'Environment (NAME=VALUE per line)', 'Config maps (CONFIG_MAP:KEY:ENV per line)', 'Run as user (UID)']) {
    await dialog.getByLabel(field).fill('');
  }
  await dialog.getByLabel('Cache').selectOption('');
  await dialog.getByLabel('Run as non-root').selectOption('');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await save(page);
  await expect.poll(() => savedTags('pipeline.ipynb')[2]).toEqual(['step:load']);
  await expect(load.getByRole('button', { name: 'Settings of step load' })).toHaveText('settings');

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
  // Cell numbers read as JupyterLab's status bar counts (1-based): index 2 is "cell 3".
  await panel.getByRole('button', { name: 'Go to cell 3' }).first().click();
  await expect(cell(page, 2)).toHaveClass(/jp-mod-active/);
  // The error's fix and its link are separate lines, never run together.
  const error = panel.locator('.kale-error').first();
  await expect(error.locator('.kale-error-message')).toContainText('ZeroDivisionError');
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

test('settings dialog: invalid tags show in their field, Save waits, clearing removes', async ({ page }) => {
  await openNotebook(page, 'settings.ipynb');
  const train = cell(page, 0);
  await train.getByRole('button', { name: 'Settings of step train' }).click();
  const dialog = page.locator('.jp-Dialog');
  const retries = dialog.getByLabel('Retries');
  const memory = dialog.getByLabel('Memory limit');
  // The bad tags are in their fields, marked invalid with the parser's message.
  await expect(retries).toHaveValue('two');
  await expect(retries).toHaveAttribute('aria-invalid', 'true');
  await expect(memory).toHaveValue('lots');
  await expect(dialog.locator('[data-field="retry"] .kale-field-error')).not.toBeEmpty();
  await expect(dialog.getByLabel('CPU limit')).toHaveAttribute('aria-invalid', 'false');
  const saveButton = dialog.getByRole('button', { name: 'Save' });
  await expect(saveButton).toBeDisabled();
  // Examples are help text, not placeholders that look like values.
  expect(await dialog.getByLabel('Image').getAttribute('placeholder')).toBeNull();
  await dialog.locator('.jp-Dialog-content').screenshot({ path: path.join(SHOTS, 'settings-invalid.png') });
  // Typing checks as you go, with the same rules as the CLI.
  await retries.fill('2');
  await expect(retries).toHaveAttribute('aria-invalid', 'false');
  await memory.fill('');
  // A bad tag no field shows is listed with a Remove button; Save waits for it too.
  await expect(saveButton).toBeDisabled();
  await dialog.getByRole('button', { name: 'Remove tag toleration:oops' }).click();
  await expect(saveButton).toBeEnabled();
  await dialog.getByLabel('Timeout (seconds)').fill('soon');
  await expect(saveButton).toBeDisabled();
  await dialog.getByLabel('Timeout (seconds)').fill('');
  await saveButton.click();
  await save(page);
  await expect.poll(() => savedTags('settings.ipynb')[0]).toEqual(['step:train', 'limit:cpu:500m', 'retry:2']);
  // Reopened, the saved values are there.
  await train.getByRole('button', { name: 'Settings of step train' }).click();
  await expect(dialog.getByLabel('Retries')).toHaveValue('2');
  await dialog.getByLabel('CPU limit').fill('');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await save(page);
  await expect.poll(() => savedTags('settings.ipynb')[0]).toEqual(['step:train', 'retry:2']);
});

test('cancel says "cancelling…" at once, then each step\'s state', async ({ page }) => {
  await openNotebook(page, 'cancel.ipynb');
  const panel = await openPanel(page);
  await panel.getByRole('button', { name: 'Deploy: run locally' }).click();
  await expect(panel.locator('tr[data-step="wait"]')).toHaveAttribute('data-status', 'running', { timeout: 60_000 });
  await panel.getByRole('button', { name: 'Cancel Run locally' }).click();
  // Before the step can end (it waits for the gate file), the panel says so.
  const header = panel.locator('.kale-job-header');
  await expect(header).toHaveAttribute('data-cancelling', 'true');
  await expect(header).toContainText('cancelling…');
  await expect(panel.locator('tr[data-step="wait"] .kale-status')).toHaveText('running (cancelling…)');
  await panel.screenshot({ path: path.join(SHOTS, 'cancelling.png') });
  expect(fs.existsSync(process.env.KALE_LIKE_GATE!)).toBe(false);
  fs.writeFileSync(process.env.KALE_LIKE_GATE!, 'go');
  await expect(header).toHaveAttribute('data-status', 'cancelled', { timeout: 60_000 });
  await expect(panel.locator('tr[data-step="after"]')).not.toHaveAttribute('data-status', /running|succeeded/);
  await expect(panel.locator('.kale-cancel-summary')).toContainText('wait');
});

test('each notebook keeps its own results; sections collapse, the DAG stays reachable', async ({ page }) => {
  await openNotebook(page, 'failing.ipynb');
  const panel = await openPanel(page);
  await panel.getByRole('button', { name: 'Deploy: run locally' }).click();
  await expect(panel.locator('.kale-job-header')).toHaveAttribute('data-status', 'failed', { timeout: 90_000 });
  // Open another notebook in the same page (file browser), run it.
  await page.locator('.jp-SideBar .lm-TabBar-tab[data-id="filebrowser"]').click();
  await page.locator('.jp-DirListing-item', { hasText: 'pipeline.ipynb' }).dblclick();
  await expect(page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-current', { hasText: 'pipeline.ipynb' })).toBeVisible();
  await openPanel(page);
  // Not failing.ipynb's run: this notebook has no results yet.
  await expect(panel.locator('.kale-job-header')).toHaveCount(0);
  await expect(panel.locator('.kale-dag-node[data-step="load"]')).toBeVisible();
  await panel.getByRole('button', { name: 'Deploy: run locally' }).click();
  await expect(panel.locator('.kale-job-header')).toHaveAttribute('data-status', 'succeeded', { timeout: 90_000 });
  // Back to failing.ipynb: its own failed run is shown again.
  await page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'failing.ipynb' }).click();
  await expect(panel.locator('.kale-job-header')).toHaveAttribute('data-status', 'failed');
  await expect(panel.locator('tr[data-step="divide"]')).toBeVisible();
  // Sections collapse; results scroll inside their own section.
  const results = panel.locator('details.kale-results-section');
  await results.locator('summary').click();
  await expect(panel.locator('.kale-results-body')).toBeHidden();
  await expect(panel.locator('.kale-dag-node[data-step="divide"]')).toBeInViewport();
  await results.locator('summary').click();
  const box = await panel.locator('.kale-results-body').boundingBox();
  expect(box!.height).toBeLessThanOrEqual(0.46 * page.viewportSize()!.height);
});

test('DAG: layered layout, labels apart, zoom and fit, file and order edges, last good graph greyed', async ({ page }) => {
  await openNotebook(page, 'dag.ipynb');
  const panel = await openPanel(page);
  const skip = panel.locator('.kale-dag-edge[data-from="a"][data-to="c"][data-kind="data"]');
  await expect(skip).toHaveAttribute('data-variables', 'mean,stdev');
  await expect(panel.locator('.kale-dag-edge[data-from="b"][data-to="c"][data-kind="data"]')).toHaveAttribute('data-variables', 'counts');
  // The file b writes and c reads is its own edge, drawn differently.
  const file = panel.locator('.kale-dag-edge[data-from="b"][data-to="c"][data-kind="file"]');
  await expect(file).toHaveAttribute('data-files', 'counts.txt');
  await expect(panel.locator('.kale-dag-legend')).toContainText('files');
  const geometry = await panel.locator('svg.kale-dag').evaluate((svg: SVGSVGElement) => {
    const rect = (el: Element) => (el as SVGGraphicsElement).getBBox();
    const nodes = Object.fromEntries(Array.from(svg.querySelectorAll('.kale-dag-node')).map(n =>
      [n.getAttribute('data-step'), rect(n.querySelector('rect')!)]));
    const skipPath = svg.querySelector('.kale-dag-edge[data-from="a"][data-to="c"][data-kind="data"] .kale-dag-line') as SVGPathElement;
    const samples = Array.from({ length: 50 }, (_, i) => skipPath.getPointAtLength((skipPath.getTotalLength() * i) / 49));
    const b = nodes.b;
    const through = samples.some(p => p.x > b.x && p.x < b.x + b.width && p.y > b.y && p.y < b.y + b.height);
    const labels = Array.from(svg.querySelectorAll('.kale-dag-label-box rect')).map(rect);
    const overlap = (p: DOMRect, q: DOMRect) => p.x < q.x + q.width && q.x < p.x + p.width && p.y < q.y + q.height && q.y < p.y + p.height;
    const labelsOverlap = labels.some((p, i) => labels.some((q, j) => i < j && overlap(p, q)));
    const labelOnNode = labels.some(p => Object.values(nodes).some(n => overlap(p, n as DOMRect)));
    const box = svg.getBoundingClientRect();
    const wrap = svg.parentElement!.getBoundingClientRect();
    return { through, labelsOverlap, labelOnNode, labels: labels.length, fits: box.right <= wrap.right + 1 && box.left >= wrap.left - 1 };
  });
  expect(geometry).toEqual({ through: false, labelsOverlap: false, labelOnNode: false, labels: 4, fits: true });
  // Full variable names on hover.
  await expect(skip.locator('title')).toHaveText('a → c: mean, stdev');
  await panel.screenshot({ path: path.join(SHOTS, 'dag.png') });
  // The graph alone, for the README (the panel is taller than the window).
  await panel.locator('.kale-settings-section > summary').click();
  await panel.locator('.kale-graph-section').screenshot({ path: path.join(SHOTS, 'dag-graph.png') });
  await panel.locator('.kale-settings-section > summary').click();
  // Zoom in, then fit again.
  const svg = panel.locator('svg.kale-dag');
  const fitted = await svg.getAttribute('viewBox');
  await panel.getByRole('button', { name: 'Zoom in' }).click();
  await expect(svg).not.toHaveAttribute('viewBox', fitted!);
  await expect(svg).toHaveAttribute('data-zoomed', 'true');
  await panel.locator('.kale-dag-viewport').focus();
  await page.keyboard.press('ArrowRight');
  await panel.getByRole('button', { name: 'Fit graph' }).click();
  await expect(svg).toHaveAttribute('viewBox', fitted!);

  // Item 6: renaming a step renames the prev: tags naming it.
  const name = cell(page, 1).locator('input.kale-step-name');
  await name.fill('alpha');
  await name.press('Enter');
  await expect(cell(page, 3).locator('details.kale-depends summary')).toHaveText('depends on: alpha');
  await expect(panel.locator('.kale-dag-node[data-step="alpha"]')).toBeVisible();
  await expect(panel.locator('.kale-diagnostics .kale-error')).toHaveCount(0);
  await save(page);
  await expect.poll(() => savedTags('dag.ipynb')[3]).toEqual(['step:c', 'prev:alpha']);

  // An error keeps the last good graph, greyed, with the diagnostics above it.
  await cell(page, 2).locator('input.kale-step-name').fill('Bad-Name');
  await cell(page, 2).locator('input.kale-step-name').press('Enter');
  const diag = panel.locator('.kale-diagnostics .kale-diagnostic[data-kind="invalid-step-name"]');
  await expect(diag).toBeVisible();
  // Cell numbers as JupyterLab counts them: index 2 is cell 3.
  await expect(diag.locator('button')).toHaveText('cell 3');
  await expect(panel.locator('.kale-dag-wrap.kale-dag-stale')).toBeVisible();
  await expect(panel.locator('.kale-dag-stale .kale-dag-node[data-step="alpha"]')).toBeVisible();
  const [d, g] = [await diag.boundingBox(), await panel.locator('.kale-dag-wrap').boundingBox()];
  expect(d!.y).toBeLessThan(g!.y);
  await panel.screenshot({ path: path.join(SHOTS, 'dag-stale.png') });
  await diag.locator('button').click();
  await expect(cell(page, 2)).toHaveClass(/jp-mod-active/);
  await cell(page, 2).locator('input.kale-step-name').fill('b');
  await cell(page, 2).locator('input.kale-step-name').press('Enter');
  await expect(panel.locator('.kale-dag-wrap.kale-dag-stale')).toHaveCount(0);
});

test('step editor: readable, labelled and keyboard-accessible', async ({ page }) => {
  await openNotebook(page, 'dag.ipynb');
  const target = cell(page, 3);
  const kind = target.locator('select.kale-kind');
  await expect(kind).toBeVisible();
  // UI-size text (JupyterLab's 13 px), not the old 9 px.
  await expect(kind).toHaveCSS('font-size', /^(1[2-9]|[2-9]\d)(\.\d+)?px$/);
  const box = await kind.boundingBox();
  expect(box!.height).toBeGreaterThanOrEqual(24);
  // Visible labels, not only aria-labels.
  await expect(target.locator('label.kale-control-label', { hasText: 'Pipeline' })).toBeVisible();
  await expect(target.locator('label.kale-control-label', { hasText: 'name' })).toBeVisible();
  // Keyboard: Tab moves kind -> name -> depends-on; Enter opens the list, Escape closes it.
  await kind.focus();
  await page.keyboard.press('Tab');
  await expect(target.locator('input.kale-step-name')).toBeFocused();
  await page.keyboard.press('Tab');
  const summary = target.locator('details.kale-depends summary');
  await expect(summary).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(target.getByRole('checkbox', { name: 'Depends on b' })).toBeVisible();
  await page.keyboard.press('Tab');
  await page.keyboard.press('Escape');
  await expect(target.getByRole('checkbox', { name: 'Depends on b' })).toBeHidden();
  await expect(summary).toBeFocused();
  await target.screenshot({ path: path.join(SHOTS, 'step-editor.png') });
});

interface ICliSuggestion {
  steps: Array<{ name: string; inputs: Record<string, string> }>;
  tags: Record<string, string[]>;
}

/** Ground truth: what `kale-like suggest --json` proposes for a notebook on disk. */
function cliSuggestion(name: string): ICliSuggestion {
  const python = process.env.KALE_LIKE_PYTHON ?? 'python3';
  const out = execFileSync(python, ['-m', 'kale_like', 'suggest', '--json', path.join(ROOT, name)], {
    encoding: 'utf-8'
  });
  return JSON.parse(out);
}

/** Run a command from the palette as a user does; mouse and `fill`, no keys that could land in the notebook. */
async function runFromPalette(page: Page, label: string): Promise<void> {
  const palette = page.locator('.lm-CommandPalette-input');
  const item = page.locator('.lm-CommandPalette-item', { hasText: label }).first();
  let tries = 0;
  await expect(async () => {
    if (!(await palette.isVisible())) {
      if (tries++ % 2 === 0) {
        await page.locator('.jp-NotebookPanel:visible .jp-Notebook').press('Escape');
        await page.keyboard.press('Control+Shift+C');
      } else {
        await page.locator('.lm-MenuBar-itemLabel', { hasText: 'View' }).click();
        await page.locator('.lm-Menu-itemLabel', { hasText: 'Activate Command Palette' }).click();
      }
    }
    await expect(palette).toBeVisible({ timeout: 5_000 });
    // The modal palette closes when focus leaves it (lab still focusing the notebook it just
    // opened): typed keys would then go to the notebook's command mode. `fill` sets the
    // value on the input only; if the palette closed meanwhile the click fails and we retry.
    await palette.fill(label);
    await item.click({ timeout: 5_000 });
  }).toPass({ timeout: 90_000 });
}

test('"Pipeline: Suggest steps" proposes a split of an untagged notebook, applies its tags, undo takes them back', async ({ page }) => {
  expect(savedTags('untagged.ipynb').every(t => t.length === 0)).toBe(true);
  const truth = cliSuggestion('untagged.ipynb');
  expect(truth.steps.length).toBeGreaterThan(1);
  await openNotebook(page, 'untagged.ipynb', false);
  // Not a pipeline yet: no step editors. Let lab settle (kernel connected, notebook focused).
  await expect(page.locator('.jp-NotebookPanel:visible .kale-cell-editor:visible')).toHaveCount(0);
  await expect(page.locator('.jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status="idle"]')).toBeAttached({ timeout: 60_000 });
  await runFromPalette(page, 'Pipeline: Suggest steps');

  // The proposal: the CLI's steps on a DAG with the CLI's edges, and the text summary.
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog.locator('.jp-kale-suggestion')).toBeVisible();
  const nodes = dialog.locator('.jp-kale-suggestion-dag .kale-dag-node');
  await expect(nodes).toHaveCount(truth.steps.length);
  expect((await nodes.evaluateAll(ns => ns.map(n => n.getAttribute('data-step')))).sort()).toEqual(
    truth.steps.map(s => s.name).sort()
  );
  for (const step of truth.steps) {
    const producers = new Set(Object.values(step.inputs));
    for (const from of producers) {
      const vars = Object.keys(step.inputs).filter(v => step.inputs[v] === from).sort().join(',');
      await expect(
        dialog.locator(`.kale-dag-edge[data-from="${from}"][data-to="${step.name}"][data-kind="data"]`)
      ).toHaveAttribute('data-variables', vars);
    }
    await expect(dialog.locator('.jp-kale-suggestion')).toContainText(step.name);
  }
  await dialog.locator('.jp-Dialog-content').screenshot({ path: path.join(SHOTS, 'suggest-dialog.png') });
  const changed = Object.keys(truth.tags).length;
  await dialog.getByRole('button', { name: `Apply tags to ${changed} cell(s)` }).click();
  await expect(dialog).toHaveCount(0);

  // The cells carry exactly the tags the CLI proposes; the step editors show them at once.
  const expected = savedTags('untagged.ipynb').map((_, i) => truth.tags[String(i)] ?? []);
  const names = page.locator('.jp-NotebookPanel:visible input.kale-step-name');
  await expect(names).toHaveCount(truth.steps.length);
  await save(page);
  await expect.poll(() => savedTags('untagged.ipynb')).toEqual(expected);

  // JupyterLab's notebook undo (Edit > Undo Cell Operation, `Z`) takes the whole edit back.
  await page.locator('.lm-MenuBar-itemLabel', { hasText: 'Edit' }).click();
  await page.locator('.lm-Menu-itemLabel', { hasText: 'Undo Cell Operation' }).click();
  await expect(names).toHaveCount(0);
  await save(page);
  await expect.poll(() => savedTags('untagged.ipynb').every(t => t.length === 0)).toBe(true);
});

test('the sweep dialog offers Katib: without a cluster the Experiment YAML is written and shown', async ({ page }) => {
  await openNotebook(page, 'pipeline.ipynb');
  const panel = await openPanel(page);
  await panel.getByRole('button', { name: 'More deploy actions' }).click();
  await panel.getByRole('menuitem', { name: 'Sweep…' }).click();
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog.locator('.kale-sweep-dialog')).toBeVisible();
  await expect(dialog.getByLabel('Trial image')).toBeHidden();
  await dialog.getByLabel('Sweep target').selectOption('katib');
  await dialog.getByLabel('Trial image').fill('registry.example/kale-like:1');
  if (!(await dialog.getByLabel('Sweep n').isChecked())) {
    await dialog.getByLabel('Sweep n').check();
  }
  await dialog.getByLabel('Search space of n').fill('choice:3,5');
  await dialog.locator('.jp-Dialog-content').screenshot({ path: path.join(SHOTS, 'sweep-katib-dialog.png') });
  await dialog.getByRole('button', { name: 'Start sweep' }).click();
  await expect(panel.locator('.kale-job-header')).toHaveAttribute('data-status', 'succeeded', { timeout: 90_000 });
  const shown = panel.getByLabel('Katib Experiment YAML');
  await expect(shown).toContainText('kind: Experiment');
  await expect(shown).toContainText('registry.example/kale-like:1');
  // The same text is on disk next to the notebook, where `kubectl apply -f` finds it.
  const dir = path.join(ROOT, 'pipeline_katib');
  const files = fs.readdirSync(dir).filter(f => f.endsWith('-experiment.yaml'));
  expect(files).toHaveLength(1);
  const yaml = fs.readFileSync(path.join(dir, files[0]), 'utf-8');
  expect(yaml).toContain('kind: Experiment');
  expect((await shown.innerText()).trim()).toBe(yaml.trim());
  await panel.locator('.kale-katib-manifest').screenshot({ path: path.join(SHOTS, 'sweep-katib.png') });
});

test('notebook volumes: an existing PVC, then a new PVC by size with the warning that it is not created', async ({ page }) => {
  await openNotebook(page, 'pipeline.ipynb');
  const panel = await openPanel(page);
  const volumes = panel.locator('.kale-volumes-section');
  await expect(volumes).toBeVisible();
  await volumes.getByRole('button', { name: 'Add volume' }).click();
  await volumes.getByLabel('Volume 1 PVC name').fill('scratch');
  await volumes.getByLabel('Volume 1 PVC name').press('Tab');
  await volumes.getByLabel('Volume 1 mount point').fill('/scratch');
  await volumes.getByLabel('Volume 1 mount point').press('Tab');
  await expect(volumes.locator('.kale-volume [role="alert"]')).toHaveCount(0);
  await volumes.getByLabel('Volume 1 kind').selectOption('new_pvc');
  await volumes.getByLabel('Volume 1 size', { exact: true }).fill('5');
  await volumes.getByLabel('Volume 1 size', { exact: true }).press('Tab');
  // The server's analysis of the unsaved notebook: kale_like does not create volumes.
  const warning = volumes.locator('.kale-volume[data-index="0"] .kale-warning');
  await expect(warning).toContainText('does not create volumes');
  await expect(warning).toHaveAttribute('data-kind', 'unsupported-volume');
  await volumes.screenshot({ path: path.join(SHOTS, 'volumes.png') });
  await save(page);
  const saved = JSON.parse(fs.readFileSync(path.join(ROOT, 'pipeline.ipynb'), 'utf-8'));
  expect(saved.metadata.kubeflow_notebook.volumes).toEqual([
    { type: 'new_pvc', name: 'scratch', mount_point: '/scratch', size: 5, size_type: 'Gi' }
  ]);
});
