/** jsdom lacks DragEvent, which @lumino/widgets references when it loads. */
if (typeof (globalThis as any).DragEvent === 'undefined') {
  (globalThis as any).DragEvent = class DragEvent extends MouseEvent {};
}
export {};
