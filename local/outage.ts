import type { Server } from 'node:http';
import { type AddressInfo, Server as NetServer } from 'node:net';

/**
 * Takes a stand-in's HTTP listener down for `downMs`, then brings it back on the same port: new
 * connections are refused meanwhile, open ones are cut (with the requests on them, answered or
 * not), and the stand-in keeps its data, as a durable AWS service does through a restart. The
 * plain net.Server close and listen are used because dynalite's own close() drops its tables.
 */
export async function interruptServer(server: Server, downMs: number): Promise<void> {
  const { port, address } = server.address() as AddressInfo;
  const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
  server.closeAllConnections();
  await closed;
  await new Promise((resolve) => setTimeout(resolve, downMs));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    NetServer.prototype.listen.call(server, { port, host: address }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
