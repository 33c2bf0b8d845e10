import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type FauxqsServer, interceptLocalhostDns, startFauxqs } from 'fauxqs';
import { afterAll, beforeAll } from 'vitest';

export const LOCAL_SQS_REGION = 'us-east-1';

export interface LocalSqs {
  /** The client, once the file's beforeAll has run. */
  readonly sqs: SQSClient;
  /** Creates a FIFO queue (explicit dedup ids) with these attributes; returns its URL and ARN. */
  fifoQueue(name: string, attributes?: Record<string, string>): Promise<{ url: string; arn: string }>;
}

/** An in-process fauxqs for the local event source's tests: started before the file's tests, stopped after. */
export function useLocalSqs(): LocalSqs {
  let restoreDns: (() => void) | undefined;
  let fauxqs: FauxqsServer | undefined;
  let client: SQSClient | undefined;

  beforeAll(async () => {
    restoreDns = interceptLocalhostDns();
    fauxqs = await startFauxqs({ port: 0, logger: false, defaultRegion: LOCAL_SQS_REGION });
    client = new SQSClient({
      region: LOCAL_SQS_REGION,
      endpoint: `http://sqs.${LOCAL_SQS_REGION}.localhost:${fauxqs.port}`,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });

  afterAll(async () => {
    await fauxqs?.stop();
    client?.destroy();
    restoreDns?.();
  });

  return {
    get sqs() {
      if (!client) throw new Error('useLocalSqs: the local SQS is not started yet');
      return client;
    },
    async fifoQueue(name, attributes = {}) {
      const { QueueUrl } = await this.sqs.send(
        new CreateQueueCommand({
          QueueName: `${name}.fifo`,
          Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'false', ...attributes },
        }),
      );
      return { url: QueueUrl as string, arn: `arn:aws:sqs:${LOCAL_SQS_REGION}:000000000000:${name}.fifo` };
    },
  };
}
