/**
 * What one webhook costs the local stack: the requests its stand-ins serve and the queries Postgres
 * runs, counted while the meter runs, and the CPU time of the process hosting the stack (every
 * thread) and its event loop's utilisation. The bench and the stack share this process, so the
 * operations the bench itself issues while it waits (event log scans, queue depths) are left out.
 */

import type { IncomingMessage } from 'node:http';
import { Server } from 'node:http';
import { cpus } from 'node:os';
import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import pg from 'pg';
import { round } from './stats';

/** Operations the bench sends while it waits for processing. */
const BENCH_OPERATIONS = new Set(['DynamoDB_20120810.Scan', 'AmazonSQS.GetQueueAttributes']);

export interface StackCost {
  webhooks: number;
  /** Requests per webhook served by each stand-in (by service) and SQL statements run. */
  perWebhook: Record<string, number>;
  roundTripsPerWebhook: number;
  /** Process CPU time (user + system, all threads) per webhook. */
  cpuMsPerWebhook: number;
  /** Share of the metered time the main thread's event loop was busy. */
  eventLoopUtilization: number;
  /** Webhooks per second the machine's cores could carry at this cost, if nothing else ran. */
  ceilingPerSecond: number;
}

/**
 * Starts counting. `services` maps each stand-in's port to its name (the REST front counts as
 * `api`); fauxqs behind the move-task proxy is not listed, so an SQS call counts once.
 */
export function meterStack(services: ReadonlyMap<number, string>): { stop(webhooks: number): StackCost } {
  const counts = new Map<string, number>();
  const add = (service: string) => counts.set(service, (counts.get(service) ?? 0) + 1);

  const emit = Server.prototype.emit;
  Server.prototype.emit = function (this: Server, event: string | symbol, ...args: unknown[]) {
    if (event === 'request') {
      const address = this.address();
      const service = typeof address === 'object' && address ? services.get(address.port) : undefined;
      const target = (args[0] as IncomingMessage).headers['x-amz-target'];
      if (service && !BENCH_OPERATIONS.has(String(target))) add(service);
    }
    return emit.apply(this, [event, ...args] as Parameters<typeof emit>);
  } as typeof emit;
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    add('postgres');
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;

  const cpuBefore = process.cpuUsage();
  const loopBefore: EventLoopUtilization = performance.eventLoopUtilization();
  return {
    stop: (webhooks) => {
      Server.prototype.emit = emit;
      pg.Client.prototype.query = query;
      const cpu = process.cpuUsage(cpuBefore);
      const perWebhook = Object.fromEntries(
        [...counts]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([service, n]) => [service, round(n / webhooks)]),
      );
      const cpuMsPerWebhook = (cpu.user + cpu.system) / 1000 / webhooks;
      return {
        webhooks,
        perWebhook,
        roundTripsPerWebhook: round(Object.values(perWebhook).reduce((sum, n) => sum + n, 0)),
        cpuMsPerWebhook: round(cpuMsPerWebhook),
        eventLoopUtilization: round(performance.eventLoopUtilization(loopBefore).utilization),
        ceilingPerSecond: Math.round((cpus().length * 1000) / cpuMsPerWebhook),
      };
    },
  };
}
