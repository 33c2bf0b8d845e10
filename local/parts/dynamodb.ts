import dynalite from 'dynalite';
import type { StartedPart } from '../hosted-part';
import { close, listen } from '../net';
import { interruptServer } from '../outage';

/** DynamoDB (dynalite, in memory). */
export async function start(): Promise<StartedPart<{ url: string }>> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const port = await listen(server, 0, '127.0.0.1');
  return {
    ready: { url: `http://127.0.0.1:${port}` },
    operations: { interrupt: (downMs: number) => interruptServer(server, downMs) },
    stop: () => close(server),
  };
}
