import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * A local stand-in for AWS KMS, serving the two calls the stack makes (Encrypt and Decrypt, AWS JSON
 * 1.1 as the SDK's KMSClient speaks it) for one symmetric key. No maintained npm package emulates
 * KMS (local-kms is a Go binary), and the production code must stay unchanged: this serves the same
 * requests with the same answers, errors included.
 *
 * The key is random per process, like everything else the local stack keeps in memory. A ciphertext
 * is version, IV, tag and AES-256-GCM ciphertext, with the key id and the encryption context as
 * additional data: decrypting under another context fails with InvalidCiphertextException, as in KMS.
 */
export interface LocalKms {
  server: Server;
  /** The key's ARN, what SECRETS_KEY_ID names. */
  keyArn: string;
}

const VERSION = 1;

export function createLocalKms(options: { region: string; account: string }): LocalKms {
  const keyArn = `arn:aws:kms:${options.region}:${options.account}:key/${randomUUID()}`;
  const key = randomBytes(32);

  const encrypt = (input: Record<string, unknown>) => {
    assertKey(input.KeyId, keyArn);
    const plaintext = blob(input.Plaintext, 'Plaintext');
    if (plaintext.length === 0 || plaintext.length > 4096)
      throw new KmsError('ValidationException', 'Plaintext must be 1 to 4096 bytes');
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(additionalData(keyArn, input.EncryptionContext));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const ciphertext = Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
    return {
      CiphertextBlob: ciphertext.toString('base64'),
      KeyId: keyArn,
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    };
  };

  const decrypt = (input: Record<string, unknown>) => {
    if (input.KeyId !== undefined) assertKey(input.KeyId, keyArn);
    const ciphertext = blob(input.CiphertextBlob, 'CiphertextBlob');
    try {
      if (ciphertext[0] !== VERSION || ciphertext.length < 29) throw new Error('not ours');
      const decipher = createDecipheriv('aes-256-gcm', key, ciphertext.subarray(1, 13));
      decipher.setAuthTag(ciphertext.subarray(13, 29));
      decipher.setAAD(additionalData(keyArn, input.EncryptionContext));
      const plaintext = Buffer.concat([decipher.update(ciphertext.subarray(29)), decipher.final()]);
      return {
        Plaintext: plaintext.toString('base64'),
        KeyId: keyArn,
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    } catch {
      throw new KmsError('InvalidCiphertextException', 'The ciphertext is invalid for this key and context');
    }
  };

  const operations: Record<string, (input: Record<string, unknown>) => unknown> = {
    'TrentService.Encrypt': encrypt,
    'TrentService.Decrypt': decrypt,
  };

  const server = createServer((req, res) => {
    handle(req, res, operations).catch(() =>
      reply(res, 500, { __type: 'KMSInternalException', message: '' }),
    );
  });
  return { server, keyArn };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  operations: Record<string, (input: Record<string, unknown>) => unknown>,
): Promise<void> {
  const operation = operations[String(req.headers['x-amz-target'] ?? '')];
  if (req.method !== 'POST' || !operation)
    return reply(res, 400, { __type: 'UnknownOperationException', message: 'Not served locally' });
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  try {
    reply(res, 200, operation(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')));
  } catch (error) {
    if (error instanceof KmsError) return reply(res, 400, { __type: error.type, message: error.message });
    reply(res, 400, { __type: 'ValidationException', message: 'Malformed request' });
  }
}

class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

function assertKey(keyId: unknown, keyArn: string): void {
  if (keyId !== keyArn) throw new KmsError('NotFoundException', `Key '${String(keyId)}' does not exist`);
}

function blob(value: unknown, name: string): Buffer {
  if (typeof value !== 'string') throw new KmsError('ValidationException', `${name} is required`);
  return Buffer.from(value, 'base64');
}

/** The key and the context, canonical (sorted): what a ciphertext is bound to. */
function additionalData(keyArn: string, context: unknown): Buffer {
  const entries = Object.entries((context ?? {}) as Record<string, string>).sort(([a], [b]) =>
    a.localeCompare(b),
  );
  return Buffer.from(JSON.stringify([keyArn, entries]));
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1' });
  res.end(JSON.stringify(body));
}
