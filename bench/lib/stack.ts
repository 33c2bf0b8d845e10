import type { LocalStack, LocalStackOptions } from '../../local/stack';
import { OPERATORS_GROUP, signDevToken } from '../../shared/auth/tokens';
import { numberEnv } from '../../shared/env';
import { BENCH_ORG_ID, BENCH_SECRETS } from './requests';

/**
 * The local stack in this process, as the benches run it: the bench secrets, quiet logs, and no
 * edge limits (the load comes from one address at rates only many provider addresses would reach).
 * One per process: the handlers keep module-level clients bound to the first stack's endpoints.
 */
export async function startBenchStack(options: Partial<LocalStackOptions> = {}): Promise<LocalStack> {
  Object.assign(process.env, {
    SALESFORCE_ORG_ID: BENCH_ORG_ID,
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'ERROR',
  });
  const { startLocalStack } = await import('../../local/stack');
  return startLocalStack({
    port: 0,
    wsPort: 0,
    secrets: { ...BENCH_SECRETS },
    edgeLimits: false,
    // As `npm start` runs it: ingest first (LocalStackOptions.processorNice).
    processorNice: numberEnv('PROCESSOR_NICE', 10),
    ...options,
  });
}

/** An operator's dashboard URL (every owner's pushes), signed with the stack's dev token secret. */
export async function dashboardUrl(stack: LocalStack): Promise<string> {
  const secret = process.env.DEV_TOKEN_SECRET;
  if (!secret) throw new Error('The local stack has not set DEV_TOKEN_SECRET');
  return `${stack.wsUrl}?token=${await signDevToken(secret, 'bench-dashboard', undefined, [OPERATORS_GROUP])}`;
}

/** Where the load generator connects, and the public base URL its requests are signed for. */
export function loadTarget(stack: LocalStack): { target: string; signedBase: string } {
  return { target: `http://127.0.0.1:${new URL(stack.httpUrl).port}`, signedBase: stack.httpUrl };
}
