import { interceptLocalhostDns, startFauxqs } from 'fauxqs';
import type { StartedPart } from '../hosted-part';
import { interruptServer } from '../outage';
import { startSqsMoveTaskProxy } from '../sqs-move-tasks';

/**
 * SQS and S3 (fauxqs), with the message move tasks fauxqs lacks in front of it
 * (local/sqs-move-tasks.ts): the proxy is the SQS endpoint, and what an SQS outage takes down.
 */
export async function start(config: {
  region: string;
  bucket: string;
}): Promise<StartedPart<{ sqsEndpoint: string; s3Endpoint: string }>> {
  // fauxqs queue URLs use sqs.<region>.localhost hosts, which not every resolver maps to loopback.
  const restoreDns = interceptLocalhostDns();
  const fauxqs = await startFauxqs({ port: 0, logger: false, defaultRegion: config.region });
  fauxqs.createBucket(config.bucket);
  // Queue URLs are made from the Host header, so every URL fauxqs hands out names the proxy.
  const moveTasks = await startSqsMoveTaskProxy({ fauxqsPort: fauxqs.port, region: config.region });
  return {
    ready: { sqsEndpoint: moveTasks.endpoint, s3Endpoint: `http://s3.localhost:${fauxqs.port}` },
    operations: { interrupt: (downMs: number) => interruptServer(moveTasks.server, downMs) },
    stop: async () => {
      await moveTasks.stop();
      await fauxqs.stop();
      restoreDns();
    },
  };
}
