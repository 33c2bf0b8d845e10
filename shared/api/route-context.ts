import type { APIGatewayProxyEvent } from 'aws-lambda';
import { type Identity, isOperator } from '../auth/tokens';
import { ForbiddenError } from './errors';
import type { ManagementDeps } from './handlers';

/** Who is asking: a user, who sees their own data, or an operator, who sees every owner's. */
export interface Caller {
  userId: string;
  operator: boolean;
}

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
  /** The caller and whether they are an operator. */
  caller: (event: APIGatewayProxyEvent) => Promise<Caller>;
  /**
   * The caller's user id, if they are an operator (403 otherwise, saying they may not do `what`).
   * The DLQs are shared by every tenant, and alert rules watch the provider-wide metrics of every
   * tenant's traffic: both are operator tools.
   */
  operator: (event: APIGatewayProxyEvent, what: string) => Promise<string>;
}

export { isOperator };

/** Whether the caller may see (and act on) data of this owner; anything else is answered 404. */
export function maySee(caller: Caller, ownerId: string): boolean {
  return caller.operator || caller.userId === ownerId;
}

/**
 * The owner a listing covers: a user's own; for an operator, the one they name or (undefined) every
 * owner. A user naming another owner is refused rather than shown an empty list.
 */
export function ownerScope(caller: Caller, requested: string | undefined): string | undefined {
  if (caller.operator) return requested;
  if (requested !== undefined && requested !== caller.userId)
    throw new ForbiddenError("Only operators may see other owners' data");
  return caller.userId;
}
