/**
 * A tiny DOM builder: `h('button', { class: 'x', 'aria-label': 'Run', onclick }, 'Run')`.
 */
export type Child = Node | string | number | null | undefined | false;
export type Attrs = { [name: string]: unknown };

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s(tag: string, attrs: Attrs = {}, ...children: (Child | Child[])[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag) as SVGElement;
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value as EventListener);
    } else if (name === 'value' && 'value' in el) {
      (el as HTMLInputElement).value = String(value);
    } else if (name === 'checked' && 'checked' in el) {
      (el as HTMLInputElement).checked = Boolean(value);
    } else if (name === 'selected' && 'selected' in el) {
      (el as HTMLOptionElement).selected = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
}

function append(el: Element, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** The colour of the i-th step: golden-angle hues, so neighbouring steps differ clearly. */
export function stepColorAt(index: number): string {
  return `hsl(${Math.round((200 + index * 137.508) % 360)}, 65%, 45%)`;
}

/** A colour for a step name alone (when its position is unknown). */
export function stepColor(name: string): string {
  // FNV-1a, then the golden angle: similar names still get well separated hues.
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  }
  return `hsl(${Math.round(((hash >>> 0) * 137.508) % 360)}, 65%, 45%)`;
}

let counter = 0;
/** A unique id for label/aria wiring. */
export function uid(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Whether the user is typing in a text field inside `root` (do not re-render under them). */
export function typingIn(root: HTMLElement): boolean {
  const active = document.activeElement;
  return (
    active !== null &&
    root.contains(active) &&
    (active.tagName === 'TEXTAREA' || (active.tagName === 'INPUT' && (active as HTMLInputElement).type === 'text'))
  );
}

/** Re-render `root`'s children, keeping the focused control (by aria-label) and open <details>. */
export function rerender(root: HTMLElement, children: HTMLElement[]): void {
  const active = document.activeElement as HTMLElement | null;
  const label = active && root.contains(active) ? active.getAttribute('aria-label') : null;
  const open = Array.from(root.querySelectorAll('details[open]')).map(d => d.className);
  root.replaceChildren(...children);
  for (const cls of open) {
    const details = root.querySelector(`details.${cls.split(' ')[0]}`) as HTMLDetailsElement | null;
    if (details) {
      details.open = true;
    }
  }
  if (label) {
    const again = Array.from(root.querySelectorAll('[aria-label]')).find(
      el => el.getAttribute('aria-label') === label
    ) as HTMLElement | undefined;
    again?.focus();
  }
}

/**
 * "cell N" for the cell at 0-based `index` (the JSON `cell` field, JupyterLab's API index),
 * numbered from 1 as JupyterLab's status bar ("Cell N of M") and the CLI's text number it.
 */
export function cellLabel(index: number): string {
  return `cell ${index + 1}`;
}
