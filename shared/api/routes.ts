/**
 * The management routes below `/api/webhooks` (method, path relative to it, and whether the route
 * is public): the one list the stack (lib/constructs/management-api.ts) and the local stack build
 * their resources from. The handler's router must answer each of them.
 */
export const MANAGEMENT_ROUTES: readonly (readonly [
  method: string,
  path: string,
  access: 'token' | 'public',
])[] = [
  ['GET', 'openapi.json', 'public'],
  ['GET', 'me', 'token'],
  ['POST', 'register', 'token'],
  ['GET', 'configs', 'token'],
  ['GET', 'configs/{id}', 'token'],
  ['PATCH', 'configs/{id}', 'token'],
  ['DELETE', 'configs/{id}', 'token'],
  ['POST', 'configs/{id}/rotate-secret', 'token'],
  ['GET', 'status', 'token'],
  ['GET', 'metrics', 'token'],
  ['GET', 'events', 'token'],
  ['GET', 'events/{id}', 'token'],
  ['POST', 'events/{id}/replay', 'token'],
  ['GET', 'ledger', 'token'],
  ['GET', 'dlq', 'token'],
  ['POST', 'dlq/redrive', 'token'],
  ['POST', 'alert-rules', 'token'],
  ['GET', 'alert-rules', 'token'],
  ['GET', 'alert-rules/{id}', 'token'],
  ['PATCH', 'alert-rules/{id}', 'token'],
  ['DELETE', 'alert-rules/{id}', 'token'],
  ['GET', 'alerts', 'token'],
  ['POST', 'alerts/{id}/acknowledge', 'token'],
];
