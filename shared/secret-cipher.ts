import { DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { requireEnv } from './env';

/** Which secret of a config a ciphertext holds: what the encryption context (and so IAM) can tell apart. */
export type SecretField = 'signing-secret' | 'provider-credentials';

/**
 * Encrypts the secrets of one webhook config before they are stored, and decrypts them for the
 * functions allowed to (shared/stores/webhook-configs.ts).
 */
export interface SecretCipher {
  encrypt(plaintext: string, configId: string, field: SecretField): Promise<string>;
  decrypt(ciphertext: string, configId: string, field: SecretField): Promise<string>;
}

/** The `purpose` every config secret is encrypted with; key policies and grants can require it. */
export const SECRET_PURPOSE = 'webhooks-config-secret';

/**
 * Direct kms:Encrypt and kms:Decrypt of each short secret (a signing secret, or the JSON of a
 * provider credential; both far under KMS's 4 KB) with the stack's secrets key, rather than
 * envelope encryption: there is nothing large to encrypt, one call per secret is all the ingest
 * path pays (per cached config, not per delivery), and every decryption is a CloudTrail event of its
 * own. The encryption context binds each ciphertext to its config and field: a ciphertext copied to
 * another config's item, or from the signing secret to the credentials, no longer decrypts; and the
 * IAM grants use the field to let the ingest functions decrypt signing secrets only
 * (lib/constructs/storage.ts).
 */
export class KmsSecretCipher implements SecretCipher {
  constructor(
    private readonly kms: KMSClient,
    private readonly keyId: string,
  ) {}

  async encrypt(plaintext: string, configId: string, field: SecretField): Promise<string> {
    const { CiphertextBlob } = await this.kms.send(
      new EncryptCommand({
        KeyId: this.keyId,
        Plaintext: Buffer.from(plaintext, 'utf8'),
        EncryptionContext: context(configId, field),
      }),
    );
    if (!CiphertextBlob) throw new Error('KMS returned no ciphertext');
    return Buffer.from(CiphertextBlob).toString('base64');
  }

  async decrypt(ciphertext: string, configId: string, field: SecretField): Promise<string> {
    const { Plaintext } = await this.kms.send(
      new DecryptCommand({
        KeyId: this.keyId,
        CiphertextBlob: Buffer.from(ciphertext, 'base64'),
        EncryptionContext: context(configId, field),
      }),
    );
    if (!Plaintext) throw new Error('KMS returned no plaintext');
    return Buffer.from(Plaintext).toString('utf8');
  }
}

function context(configId: string, field: SecretField): Record<string, string> {
  return { purpose: SECRET_PURPOSE, configId, field };
}

/** The cipher of a function from SECRETS_KEY_ID (the key's ARN; AWS_ENDPOINT_URL_KMS locally). */
export function secretCipherFromEnv(): SecretCipher {
  return new KmsSecretCipher(new KMSClient({}), requireEnv('SECRETS_KEY_ID'));
}
