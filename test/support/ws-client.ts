import WebSocket from 'ws';

export interface TestClient {
  messages: { type: string; data: unknown; timestamp: string }[];
  send(message: unknown): void;
  /** Resolves with the first message (already received or future) matching the predicate. */
  next(
    predicate: (m: { type: string; data: unknown }) => boolean,
    timeoutMs?: number,
  ): Promise<{ type: string; data: unknown; timestamp: string }>;
  close(): void;
}

/** Opens a WebSocket like a dashboard would; rejects with the HTTP status if the upgrade is refused. */
export function connect(url: string): Promise<TestClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const messages: TestClient['messages'] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (data) => {
      messages.push(JSON.parse(data.toString()));
      for (const wake of waiters.splice(0)) wake();
    });
    ws.on('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
    ws.on('error', reject);
    ws.on('open', () =>
      resolve({
        messages,
        send: (message) => ws.send(JSON.stringify(message)),
        close: () => ws.close(),
        next: (predicate, timeoutMs = 5000) =>
          new Promise((found, fail) => {
            const deadline = setTimeout(() => fail(new Error('no matching WebSocket message')), timeoutMs);
            const check = () => {
              const match = messages.find(predicate);
              if (match) {
                clearTimeout(deadline);
                found(match);
              } else waiters.push(check);
            };
            check();
          }),
      }),
    );
  });
}

/** Connects like `connect` and subscribes, resolving once the server confirmed the subscription. */
export async function subscribedClient(
  url: string,
  data: { events: string[]; providers?: string[]; configIds?: string[]; batch?: boolean },
): Promise<TestClient> {
  const client = await connect(url);
  client.send({ type: 'subscribe', data });
  await client.next((m) => m.type === 'subscribed');
  return client;
}
