import type { SecretCipher } from '../../../shared/secret-cipher';

/**
 * Reversible, context-bound stand-in for the KMS cipher in tests that mock DynamoDB: a ciphertext
 * names its config and field, and decrypts under those only (as KMS's encryption context does).
 */
export const fakeCipher: SecretCipher = {
  encrypt: async (plaintext, configId, field) => `enc(${configId}/${field}:${plaintext})`,
  decrypt: async (ciphertext, configId, field) => {
    const prefix = `enc(${configId}/${field}:`;
    if (!ciphertext.startsWith(prefix) || !ciphertext.endsWith(')'))
      throw new Error('InvalidCiphertextException');
    return ciphertext.slice(prefix.length, -1);
  },
};
