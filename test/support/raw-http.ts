import { type Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';

/** One HTTP request exactly as a (possibly broken) client would send it. */
export interface RawRequest {
  method: string;
  /** Sent verbatim as the request target: `..`, `%2e` and `//` are not normalized as fetch would. */
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  durationMs: number;
}

/**
 * Sends a request with node:http, not fetch: the path stays byte-exact, Buffer bodies (invalid UTF-8
 * included) go out untouched, and only Host and Content-Length are added. The response resolves as
 * soon as it is complete, even if the server then drops the connection (it may answer 413 early).
 * On a fresh connection, unless `agent` (a keep-alive one, say) is given.
 */
export function sendRaw(
  baseUrl: string,
  request: RawRequest,
  options: { timeoutMs?: number; agent?: Agent } = {},
): Promise<RawResponse> {
  const { timeoutMs = 15_000, agent = false } = options;
  const { hostname, port } = new URL(baseUrl);
  const body =
    request.body === undefined || Buffer.isBuffer(request.body)
      ? request.body
      : Buffer.from(request.body, 'utf8');
  const headers: Record<string, string | number> = { ...request.headers };
  if (body !== undefined) headers['Content-Length'] = body.length;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let settled = false;
    const req = httpRequest(
      { host: hostname, port, method: request.method, path: request.path, headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          settled = true;
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            durationMs: performance.now() - started,
          });
        });
        res.on('error', (error) => settled || reject(error));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response within ${timeoutMs} ms`)));
    req.on('error', (error) => settled || reject(error));
    req.end(body);
  });
}
