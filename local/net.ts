import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on `port` (0: a free one) and answers with the port taken. */
export function listen(server: Server, port: number, host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const ready = () => resolve((server.address() as AddressInfo).port);
    if (host) server.listen(port, host, ready);
    else server.listen(port, ready);
  });
}

/** Closes the server and every connection it holds. */
export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}
