/**
 * The entry point of a process hosting one part of the local stack (local/hosted.ts starts it):
 * `node --import tsx local/host.ts <part module URL>`. It loads the part, then answers the stack's
 * requests over the IPC channel: `start`, the part's own operations, `stop`, and the bench's
 * profiler and meter (local/usage.ts). It exits when the stack goes away.
 */
// First: it turns off the AWS SDK's Node.js version warning before any client is built.
import './node-support';
import {
  type HostedPart,
  type HostMessage,
  type HostRequest,
  LISTENING,
  type StartedPart,
} from './hosted-part';
import { type CpuProfile, type MeterOptions, meterProcess, type ProcessUsage, profileProcess } from './usage';

const moduleUrl = process.argv[2];
if (!moduleUrl || !process.send) throw new Error('Usage: started by local/hosted.ts with an IPC channel');
const send = (message: HostMessage, then?: () => void) => process.send?.(message, undefined, {}, then);
const part = (await import(moduleUrl)) as HostedPart<unknown, unknown>;
let started: StartedPart<unknown> | undefined;
let stopProfile: (() => Promise<CpuProfile>) | undefined;
let stopMeter: (() => ProcessUsage) | undefined;

const builtIn: Record<string, (argument: never) => Promise<unknown>> = {
  start: async (config: unknown) => {
    started = await part.start(config, { emit: (event, data) => send({ event, data }) });
    return started.ready;
  },
  stop: async () => {
    await started?.stop();
    started = undefined;
  },
  'profile-start': async () => {
    stopProfile = await profileProcess();
  },
  'profile-stop': async () => stopProfile?.(),
  'meter-start': async (options: MeterOptions) => {
    stopMeter = await meterProcess(options);
  },
  'meter-stop': async () => stopMeter?.(),
};

process.on('message', async ({ id, operation, argument }: HostRequest) => {
  let answer: HostMessage;
  try {
    const run = builtIn[operation] ?? started?.operations?.[operation];
    if (!run) throw new Error(`No operation ${operation}`);
    answer = { id, result: await run(argument as never) };
  } catch (error) {
    answer = { id, error: (error as Error).message ?? String(error) };
  }
  // Stopped: the answer is the last message, then the channel closes and the process ends.
  send(answer, operation === 'stop' ? () => process.disconnect() : undefined);
});

send({ event: LISTENING, data: null });

// The stack went away (stopped, crashed or killed): nothing is left to serve.
process.on('disconnect', () => {
  void (started?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
});
