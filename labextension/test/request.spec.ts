/**
 * requestAPI: JSON decoding and error handling (HTTP errors with diagnostics, non-JSON
 * bodies, network failures).
 */
import { ServerConnection } from '@jupyterlab/services';

import { KaleRequestError, requestAPI } from '../src/request';

const settings = { baseUrl: 'http://127.0.0.1:8888/lab-base/' } as ServerConnection.ISettings;

function fakeResponse(status: number, body: string, statusText = ''): Response {
  return {
    status,
    ok: status >= 200 && status < 300,
    statusText,
    text: () => Promise.resolve(body)
  } as Response;
}

describe('requestAPI', () => {
  it('calls /kale-like/<endpoint> under the base url and decodes JSON', async () => {
    const calls: Array<[string, RequestInit]> = [];
    const result = await requestAPI<{ steps: string[] }>(
      'analyze',
      { method: 'POST', body: '{}' },
      settings,
      (url, init) => {
        calls.push([url, init]);
        return Promise.resolve(fakeResponse(200, '{"steps": ["a", "b"]}'));
      }
    );
    expect(result).toEqual({ steps: ['a', 'b'] });
    expect(calls[0][0]).toBe('http://127.0.0.1:8888/lab-base/kale-like/analyze');
    expect(calls[0][1].method).toBe('POST');
  });

  it('turns a 400 with diagnostics into a KaleRequestError carrying them', async () => {
    const body = {
      error: 'invalid-step-name',
      message: "invalid step name 'Bad'",
      cell: 3,
      line: null,
      fix: 'rename it, e.g. step:bad',
      diagnostics: [
        { severity: 'error', kind: 'invalid-step-name', cell: 3, line: null, message: 'm', fix: null }
      ]
    };
    const error = await requestAPI('analyze', {}, settings, () =>
      Promise.resolve(fakeResponse(400, JSON.stringify(body), 'Bad Request'))
    ).catch((e: KaleRequestError) => e) as KaleRequestError;
    expect(error).toBeInstanceOf(KaleRequestError);
    expect(error.status).toBe(400);
    expect(error.kind).toBe('invalid-step-name');
    expect(error.message).toBe("invalid step name 'Bad'");
    expect(error.cell).toBe(3);
    expect(error.fix).toBe('rename it, e.g. step:bad');
    expect(error.diagnostics).toHaveLength(1);
    expect(error.diagnostics[0].cell).toBe(3);
  });

  it('reports a non-JSON error body with the status', async () => {
    const error = await requestAPI('runs/abc', {}, settings, () =>
      Promise.resolve(fakeResponse(502, '<html>bad gateway</html>', 'Bad Gateway'))
    ).catch((e: KaleRequestError) => e) as KaleRequestError;
    expect(error).toBeInstanceOf(KaleRequestError);
    expect(error.status).toBe(502);
    expect(error.kind).toBe('http-502');
    expect(error.message).toContain('502');
    expect(error.diagnostics).toEqual([]);
  });

  it('reports a 403 without a JSON body as an HTTP error', async () => {
    const error = await requestAPI('run', {}, settings, () =>
      Promise.resolve(fakeResponse(403, '', 'Forbidden'))
    ).catch((e: KaleRequestError) => e) as KaleRequestError;
    expect(error.status).toBe(403);
    expect(error.kind).toBe('http-403');
    expect(error.message).toBe('run failed: 403 Forbidden');
  });

  it('turns a network failure into status 0', async () => {
    const error = await requestAPI('analyze', {}, settings, () =>
      Promise.reject(new TypeError('Failed to fetch'))
    ).catch((e: KaleRequestError) => e) as KaleRequestError;
    expect(error).toBeInstanceOf(KaleRequestError);
    expect(error.status).toBe(0);
    expect(error.kind).toBe('network');
    expect(error.message).toContain('Failed to fetch');
  });

  it('accepts an empty success body', async () => {
    const result = await requestAPI('runs/x/cancel', {}, settings, () =>
      Promise.resolve(fakeResponse(204, ''))
    );
    expect(result).toBeNull();
  });
});
