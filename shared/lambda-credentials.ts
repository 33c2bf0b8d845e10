/**
 * Stands in for @aws-sdk/credential-provider-node in the Lambda bundles only (an esbuild alias in
 * lib/constructs/house-function.ts). Every SDK client's runtime config imports that default chain
 * statically, so passing `credentials` cannot drop it: only the alias does. In Lambda the chain ends
 * at its first link anyway, the execution role's keys in AWS_ACCESS_KEY_ID/SECRET/SESSION_TOKEN;
 * the rest of it (SSO, STS web identity, IMDS, profiles) is ~110 KiB of bundle and ~25 ms of init.
 * CLIs and the local stack run unbundled and keep the full chain.
 */
export { fromEnv as defaultProvider } from '@aws-sdk/credential-provider-env';
