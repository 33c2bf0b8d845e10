/**
 * What one webhook costs the local stack: the requests its stand-ins serve and the SQL statements
 * its Postgres clients send, counted in every process of the stack while the meter runs
 * (local/usage.ts), the CPU time of each process and how busy the ingest event loop was. The bench
 * shares the stack's main process, so the operations it issues while it waits (event log scans,
 * queue depths) are left out.
 */

import { cpus } from 'node:os';
import type { LocalStack } from '../../local/stack';
import { meterProcess, type ProcessUsage } from '../../local/usage';
import { round } from './stats';

/** Operations the bench sends while it waits for processing. */
const BENCH_OPERATIONS = ['DynamoDB_20120810.Scan', 'AmazonSQS.GetQueueAttributes'];

/** The stack's services, as the handlers reach them; `api` is the inbound request, not an AWS call. */
export const SERVICES = ['api', 'sqs', 's3', 'dynamodb', 'eventbridge', 'websocket', 'postgres'] as const;

export interface StackCost {
  webhooks: number;
  /** Requests per webhook served by each stand-in (by service) and SQL statements run (`postgres`). */
  perWebhook: Record<string, number>;
  /** The same by operation (bench/lib/meter.ts), most frequent first. */
  operationsPerWebhook: Record<string, number>;
  /** Every call the handlers make to a service per webhook (the inbound API request left out). */
  awsCallsPerWebhook: number;
  /** CPU time (user + system) per webhook, all processes of the stack together. */
  cpuMsPerWebhook: number;
  /** Each process's CPU time per webhook and how busy its event loop was. */
  processes: { process: string; cpuMsPerWebhook: number; eventLoopUtilization: number }[];
  /** How busy the event loop serving ingest (the main process's) was. */
  eventLoopUtilization: number;
  /** Webhooks per second the machine's cores could carry at this cost, if nothing else ran. */
  ceilingPerSecond: number;
}

/** The stand-ins' ports, from the endpoints the stack gives its handlers. */
function servicePorts(stack: LocalStack): Record<number, string> {
  const endpoints: [string, string | undefined][] = [
    ['api', stack.httpUrl],
    ['sqs', process.env.AWS_ENDPOINT_URL_SQS],
    ['s3', process.env.AWS_ENDPOINT_URL_S3],
    ['dynamodb', process.env.AWS_ENDPOINT_URL_DYNAMODB],
    ['eventbridge', process.env.AWS_ENDPOINT_URL_EVENTBRIDGE],
    ['websocket', process.env.WEBSOCKET_ENDPOINT],
  ];
  return Object.fromEntries(
    endpoints.flatMap(([service, url]) => (url ? [[Number(new URL(url).port), service] as const] : [])),
  );
}

/** Starts counting in every process of the stack. */
export async function meterStack(stack: LocalStack): Promise<{ stop(webhooks: number): Promise<StackCost> }> {
  const options = { services: servicePorts(stack), ignoredOperations: BENCH_OPERATIONS };
  const stopMain = await meterProcess(options);
  const meters: { process: string; stop: () => Promise<ProcessUsage> }[] = [
    { process: 'main', stop: async () => stopMain() },
  ];
  for (const child of stack.processes) meters.push({ process: child.name, stop: await child.meter(options) });
  return {
    stop: async (webhooks) => {
      const usages = await Promise.all(
        meters.map(async (m) => ({ process: m.process, usage: await m.stop() })),
      );
      const counts: Record<string, number> = {};
      const operations: Record<string, number> = {};
      for (const { usage } of usages) {
        for (const [operation, n] of Object.entries(usage.operations))
          operations[operation] = (operations[operation] ?? 0) + n;
        for (const [service, n] of Object.entries(usage.served)) counts[service] = (counts[service] ?? 0) + n;
        if (usage.statements) counts.postgres = (counts.postgres ?? 0) + usage.statements;
      }
      const perWebhook = Object.fromEntries(
        SERVICES.filter((service) => counts[service]).map((service) => [
          service,
          round((counts[service] ?? 0) / webhooks),
        ]),
      );
      const cpuMs = usages.reduce((sum, { usage }) => sum + usage.cpuMs, 0);
      const cpuMsPerWebhook = cpuMs / webhooks;
      return {
        webhooks,
        perWebhook,
        operationsPerWebhook: Object.fromEntries(
          Object.entries(operations)
            .sort(([, a], [, b]) => b - a)
            .map(([operation, n]) => [operation, round(n / webhooks, 3)]),
        ),
        awsCallsPerWebhook: round(
          Object.entries(perWebhook).reduce((sum, [service, n]) => sum + (service === 'api' ? 0 : n), 0),
        ),
        cpuMsPerWebhook: round(cpuMsPerWebhook),
        processes: usages.map(({ process, usage }) => ({
          process,
          cpuMsPerWebhook: round(usage.cpuMs / webhooks),
          eventLoopUtilization: round(usage.eventLoopUtilization),
        })),
        eventLoopUtilization: round(usages[0]?.usage.eventLoopUtilization ?? 0),
        ceilingPerSecond: Math.round((cpus().length * 1000) / cpuMsPerWebhook),
      };
    },
  };
}
