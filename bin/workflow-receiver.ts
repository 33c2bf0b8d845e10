/**
 * A workflow endpoint for the local stack: prints every request it receives (the domain event a
 * workflow target gets) and answers 200.
 *   npm run workflow-receiver -- [--port 4000] [--fail-first N]
 * --fail-first answers 503 to the first N requests, to watch the local EventBridge retry.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '4000' }, 'fail-first': { type: 'string', default: '0' } },
});
const port = Number(values.port);
let failuresLeft = Number(values['fail-first']);

/** Credentials are shown by name only. */
const SHOWN_HEADERS = ['content-type', 'user-agent'];

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = Object.keys(request.headers)
      .filter(
        (name) =>
          ![
            'host',
            'connection',
            'content-length',
            'accept',
            'accept-encoding',
            'accept-language',
            'sec-fetch-mode',
          ].includes(name),
      )
      .map((name) => (SHOWN_HEADERS.includes(name) ? `${name}: ${request.headers[name]}` : `${name}: (set)`));
    const failing = failuresLeft > 0;
    if (failing) failuresLeft--;
    const status = failing ? 503 : 200;
    console.log(
      `${new Date().toISOString()} ${request.method} ${request.url} -> ${status}  ${headers.join('; ')}`,
    );
    console.log(body);
    response.writeHead(status, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify({ received: !failing }));
  });
});

server.listen(port, () => console.log(`Workflow receiver listening on http://localhost:${port}`));
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => server.close(() => process.exit(0)));
