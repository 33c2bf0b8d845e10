import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { setPriority } from 'node:os';
import { pathToFileURL } from 'node:url';
import { type HostedPart, type HostMessage, type HostRequest, LISTENING } from './hosted-part';
import type { CpuProfile, MeterOptions, ProcessUsage } from './usage';

/** A part of the local stack running in a process of its own (local/host.ts). */
export interface HostedProcess {
  name: string;
  pid: number;
  /** One of the part's operations (e.g. `interrupt`), answered once it is done. */
  call<T = unknown>(operation: string, argument?: unknown): Promise<T>;
  /** Starts the V8 profiler in that process; the returned function stops it and gives the profile. */
  profile(): Promise<() => Promise<CpuProfile>>;
  /** Starts counting in that process (local/usage.ts); the returned function stops and reports. */
  meter(options: MeterOptions): Promise<() => Promise<ProcessUsage>>;
  /** Stops the part and waits for its process to end. */
  stop(): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: any part, whatever its config and answer.
export type AnyPart = HostedPart<any, any>;
export type ConfigOf<P extends AnyPart> = Parameters<P['start']>[0];
export type ReadyOf<P extends AnyPart> = Awaited<ReturnType<P['start']>>['ready'];

const HOST_ENTRY = new URL('./host.ts', import.meta.url);
/** The TypeScript loader the stack itself runs with (`npm start` is tsx), resolved from here. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const STOP_GRACE_MS = 10_000;

/**
 * Starts `part` (a module exporting HostedPart's `start`) in a new Node.js process, as Lambda gives
 * each function, and AWS each service, an environment of its own: the process inherits this one's
 * environment as it is now, so set what the part reads before. `onEvent` receives what the part
 * emits; `onExit` an exit that was not asked for.
 */
export async function startHosted<P extends AnyPart>(
  name: string,
  part: URL,
  config: ConfigOf<P>,
  options: {
    onEvent?: (event: string, data: unknown) => void;
    onExit?: (code: number | null) => void;
    /** The process's scheduling priority (`os.setPriority`: 0 as this one, up to 19 the lowest). */
    priority?: number;
  } = {},
): Promise<{ process: HostedProcess; ready: ReadyOf<P> }> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, HOST_ENTRY.pathname, part.href], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  if (options.priority && child.pid) setPriority(child.pid, options.priority);
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextId = 1;
  let stopping = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      for (const { reject } of pending.values())
        reject(new Error(`${name} process exited (${signal ?? code}) before answering`));
      pending.clear();
      if (!stopping) options.onExit?.(code);
      resolve();
    });
  });
  child.on('error', (error) => {
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  });
  // The child says when it listens: a request sent before that would be lost.
  const listening = new Promise<void>((resolve) => {
    child.on('message', (message: HostMessage) => {
      if ('event' in message && message.event === LISTENING) resolve();
    });
  });
  child.on('message', (message: HostMessage) => {
    if ('event' in message)
      return message.event === LISTENING || options.onEvent?.(message.event, message.data);
    const call = pending.get(message.id);
    pending.delete(message.id);
    if ('error' in message) call?.reject(new Error(`${name}: ${message.error}`));
    else call?.resolve(message.result);
  });

  const call = <T>(operation: string, argument?: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (!child.connected) return reject(new Error(`${name} process is not running`));
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, operation, argument } satisfies HostRequest, (error) => {
        if (error) {
          pending.delete(id);
          reject(error);
        }
      });
    });

  const hosted: HostedProcess = {
    name,
    pid: child.pid ?? 0,
    call,
    profile: async () => {
      await call('profile-start');
      return () => call<CpuProfile>('profile-stop');
    },
    meter: async (meterOptions) => {
      await call('meter-start', meterOptions);
      return () => call<ProcessUsage>('meter-stop');
    },
    stop: async () => {
      stopping = true;
      if (child.connected) await call('stop').catch(() => undefined);
      await stopped(child, exit);
    },
  };
  try {
    await Promise.race([listening, exit]);
    const ready = await call<ReadyOf<P>>('start', config);
    return { process: hosted, ready };
  } catch (error) {
    await hosted.stop();
    throw error;
  }
}

/** Waits for the process to end; one that does not within the grace period is killed. */
async function stopped(child: ChildProcess, exit: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exit;
  clearTimeout(timer);
}
