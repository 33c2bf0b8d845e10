import type { IncomingMessage } from 'node:http';
import { Server } from 'node:http';
import { Session } from 'node:inspector/promises';
import { type EventLoopUtilization, performance } from 'node:perf_hooks';

/**
 * What one process of the local stack used while a meter ran: the requests its stand-in servers
 * answered (by service), the SQL statements its Postgres clients sent, its CPU time and how busy
 * its event loop was. The bench adds them up over the stack's processes (bench/lib/meter.ts).
 */
export interface ProcessUsage {
  served: Record<string, number>;
  /** The same requests by operation: the `x-amz-target` (SQS, DynamoDB, EventBridge), else method and service. */
  operations: Record<string, number>;
  statements: number;
  cpuMs: number;
  wallMs: number;
  eventLoopUtilization: number;
}

export interface MeterOptions {
  /** Local port -> service name of the servers to count (a request to another port is not counted). */
  services: Record<number, string>;
  /** `x-amz-target` operations left out (the bench's own scans and queue depths). */
  ignoredOperations: readonly string[];
}

/** Starts counting in this process; the returned function stops and reports. */
export async function meterProcess(options: MeterOptions): Promise<() => ProcessUsage> {
  const served: Record<string, number> = {};
  const operations: Record<string, number> = {};
  let statements = 0;
  const ignored = new Set(options.ignoredOperations);
  const emit = Server.prototype.emit;
  Server.prototype.emit = function (this: Server, event: string | symbol, ...args: unknown[]) {
    if (event === 'request') {
      const address = this.address();
      const service = typeof address === 'object' && address ? options.services[address.port] : undefined;
      const { headers } = args[0] as IncomingMessage;
      // fauxqs serves S3 on the port it also serves the SQS proxy's forwards on: S3 is told by its host.
      const forwarded = service === 's3' && !headers.host?.startsWith('s3.');
      const target = headers['x-amz-target'];
      if (service && !forwarded && !ignored.has(String(target))) {
        const operation = target ? String(target) : `${service} ${(args[0] as IncomingMessage).method}`;
        served[service] = (served[service] ?? 0) + 1;
        operations[operation] = (operations[operation] ?? 0) + 1;
      }
    }
    return emit.apply(this, [event, ...args] as Parameters<typeof emit>);
  } as typeof emit;
  // pg is only loaded where a process talks to Postgres; loading it here costs a process nothing it uses.
  const { default: pg } = await import('pg');
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: unknown, ...args: unknown[]) {
    statements++;
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  const cpuBefore = process.cpuUsage();
  const loopBefore: EventLoopUtilization = performance.eventLoopUtilization();
  const started = performance.now();
  return () => {
    Server.prototype.emit = emit;
    pg.Client.prototype.query = query;
    const cpu = process.cpuUsage(cpuBefore);
    return {
      served,
      operations,
      statements,
      cpuMs: (cpu.user + cpu.system) / 1000,
      wallMs: performance.now() - started,
      eventLoopUtilization: performance.eventLoopUtilization(loopBefore).utilization,
    };
  };
}

/** A V8 CPU profile (`Profiler.stop`'s), as `node --cpu-prof` writes it. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

/** Starts the V8 sampling profiler in this process; the returned function stops it and gives the profile. */
export async function profileProcess(intervalMicros = 500): Promise<() => Promise<CpuProfile>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalMicros });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
    session.disconnect();
    return profile;
  };
}
