import { afterAll, beforeAll, vi } from 'vitest';

/** The environment the stack gives a function that reaches Aurora through the Data API (no DATABASE_URL). */
export function useDataApiEnv(): void {
  beforeAll(() => {
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    vi.stubEnv('DATABASE_URL', '');
    vi.stubEnv('DB_CLUSTER_ARN', 'arn:aws:rds:eu-west-1:123456789012:cluster:webhooks');
    vi.stubEnv('DB_SECRET_ARN', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhooks-db-AbCdEf');
    vi.stubEnv('DB_NAME', 'webhooks');
  });
  afterAll(() => vi.unstubAllEnvs());
}
