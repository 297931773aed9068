/**
 * sweepdialog.ts: Katib is offered as the sweep target; choosing it shows the trial image
 * field and the dialog's value carries both.
 */
// Only the dialog body is tested: the apputils dialog machinery stays out of jsdom.
jest.mock('@jupyterlab/apputils', () => ({ Dialog: {}, showDialog: jest.fn() }));

import './dom-polyfill';
import { SweepBody } from '../src/sweepdialog';
import { analysis } from './fakes';

function body(initial = {}): SweepBody {
  const a = analysis('load');
  a.pipeline.parameters = { n: { type: 'int', default: 4 } };
  a.pipeline.metrics = ['ratio'];
  const b = new SweepBody(a, initial);
  document.body.appendChild(b.node);
  return b;
}

const change = (el: HTMLInputElement | HTMLSelectElement, value: string, event = 'change') => {
  el.value = value;
  el.dispatchEvent(new Event(event));
};

describe('SweepBody', () => {
  it('runs locally by default, with the trial image hidden', () => {
    const b = body();
    const target = b.node.querySelector('select[aria-label="Sweep target"]') as HTMLSelectElement;
    expect(Array.from(target.options).map(o => o.value)).toEqual(['local', 'katib']);
    expect(b.getValue().engine).toBe('local');
    expect((b.node.querySelector('input[aria-label="Trial image"]')!.closest('.kale-field') as HTMLElement).hidden).toBe(true);
  });

  it('offers Katib: the trial image field appears and both land in the value', () => {
    const b = body();
    change(b.node.querySelector('select[aria-label="Sweep target"]') as HTMLSelectElement, 'katib');
    const image = b.node.querySelector('input[aria-label="Trial image"]') as HTMLInputElement;
    expect((image.closest('.kale-field') as HTMLElement).hidden).toBe(false);
    change(image, ' reg/kale-like:1 ', 'input');
    (b.node.querySelector('input[aria-label="Sweep n"]') as HTMLInputElement).click();
    expect(b.getValue()).toMatchObject({ engine: 'katib', trialImage: 'reg/kale-like:1', objective: 'ratio', params: { n: 'range:2:8:2' } });
  });

  it('reopens with Katib chosen when asked to', () => {
    const b = body({ engine: 'katib', trialImage: 'img:2' });
    expect((b.node.querySelector('select[aria-label="Sweep target"]') as HTMLSelectElement).value).toBe('katib');
    expect((b.node.querySelector('input[aria-label="Trial image"]') as HTMLInputElement).value).toBe('img:2');
  });
});
