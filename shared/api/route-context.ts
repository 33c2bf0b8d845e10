import type { APIGatewayProxyEvent } from 'aws-lambda';
import { type Identity, OPERATORS_GROUP } from '../auth/tokens';
import type { ManagementDeps } from './handlers';

/** What every group of management routes works with: the ports, the clock and the caller. */
export interface RouteContext {
  deps: ManagementDeps;
  now: () => Date;
  newId: () => string;
  log: (message: string, error: unknown) => void;
  /** The caller, from the bearer token (401 without a valid one). */
  identity: (event: APIGatewayProxyEvent) => Promise<Identity>;
  /** The caller's user id. */
  user: (event: APIGatewayProxyEvent) => Promise<string>;
  /**
   * The caller's user id, if they are an operator (403 otherwise, saying they may not do `what`).
   * The DLQs are shared by every tenant, and alert rules watch the provider-wide metrics of every
   * tenant's traffic: both are operator tools.
   */
  operator: (event: APIGatewayProxyEvent, what: string) => Promise<string>;
}

/** Operators also see (and acknowledge) the alerts of the built-in ops alarms. */
export const isOperator = (groups: readonly string[]) => groups.includes(OPERATORS_GROUP);
