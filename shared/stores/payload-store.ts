import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { sha256Hex } from '../crypto';

export interface PayloadRef {
  bucket: string;
  key: string;
}

/**
 * Claim check for payloads too large for an SQS message: the ingest path stores them in S3 and
 * enqueues a pointer, the processor reads them back.
 */
export class PayloadStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  /** Content-addressed by delivery, so a provider retry overwrites the same object. */
  async put(provider: string, dedupKey: string, payload: unknown, now: Date): Promise<PayloadRef> {
    const key = `${provider}/${now.toISOString().slice(0, 10)}/${sha256Hex(dedupKey)}.json`;
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: JSON.stringify(payload),
        ContentType: 'application/json',
      }),
    );
    return { bucket: this.bucket, key };
  }

  /** A quarantined request (shared/quarantine.ts), by its event log id: a redelivery overwrites it. */
  async putQuarantined(provider: string, id: string, document: unknown, now: Date): Promise<PayloadRef> {
    const key = `quarantine/${provider}/${now.toISOString().slice(0, 10)}/${sha256Hex(id)}.json`;
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: JSON.stringify(document),
        ContentType: 'application/json',
      }),
    );
    return { bucket: this.bucket, key };
  }

  async get(ref: PayloadRef): Promise<unknown> {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
    const text = await object.Body?.transformToString('utf-8');
    if (text === undefined) throw new Error(`Empty claim-check object ${ref.key}`);
    return JSON.parse(text);
  }
}
