/**
 * Typed calls to the server extension under `/kale-like/`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { IDiagnostic, IErrorBody } from './tokens';

/** An error answered by the server extension (or the network), with its diagnostics. */
export class KaleRequestError extends Error {
  readonly status: number;
  readonly kind: string;
  readonly cell: number | null;
  readonly line: number | null;
  readonly fix: string | null;
  readonly diagnostics: IDiagnostic[];

  constructor(status: number, body: Partial<IErrorBody>, fallback: string) {
    super(body.message || fallback);
    this.name = 'KaleRequestError';
    this.status = status;
    this.kind = body.error || (status === 0 ? 'network' : 'http-' + status);
    this.cell = body.cell ?? null;
    this.line = body.line ?? null;
    this.fix = body.fix ?? null;
    this.diagnostics = Array.isArray(body.diagnostics) ? body.diagnostics : [];
  }
}

/** Minimal fetch signature so tests can inject a fake. */
export type MakeRequest = (
  url: string,
  init: RequestInit,
  settings: ServerConnection.ISettings
) => Promise<Response>;

/**
 * Call `/kale-like/<endPoint>` and decode its JSON; every failure becomes a
 * `KaleRequestError` (network errors, non-JSON bodies, HTTP errors with JSON bodies).
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings(),
  makeRequest: MakeRequest = ServerConnection.makeRequest
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, 'kale-like', endPoint);
  let response: Response;
  try {
    response = await makeRequest(url, init, settings);
  } catch (error) {
    throw new KaleRequestError(0, {}, `cannot reach the server: ${String(error)}`);
  }
  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new KaleRequestError(
        response.status,
        {},
        `the server answered ${response.status} with a body that is not JSON`
      );
    }
  }
  if (!response.ok) {
    const body: Partial<IErrorBody> = data && typeof data === 'object' ? data : {};
    throw new KaleRequestError(
      response.status,
      body,
      `${endPoint} failed: ${response.status} ${response.statusText || ''}`.trim()
    );
  }
  return data as T;
}

/** POST a JSON body. */
export function postAPI<T>(endPoint: string, body: unknown): Promise<T> {
  return requestAPI<T>(endPoint, { method: 'POST', body: JSON.stringify(body) });
}

/** The text of a file under the server root (the Jupyter contents API), e.g. a written YAML. */
export async function readServerFile(
  path: string,
  settings: ServerConnection.ISettings = ServerConnection.makeSettings(),
  makeRequest: MakeRequest = ServerConnection.makeRequest
): Promise<string> {
  const url = URLExt.join(settings.baseUrl, 'api/contents', URLExt.encodeParts(path)) + '?type=file&format=text&content=1';
  let response: Response;
  try {
    response = await makeRequest(url, { method: 'GET' }, settings);
  } catch (error) {
    throw new KaleRequestError(0, {}, `cannot reach the server: ${String(error)}`);
  }
  if (!response.ok) {
    throw new KaleRequestError(response.status, {}, `cannot read ${path}: ${response.status}`);
  }
  const model = await response.json();
  return String(model.content ?? '');
}
