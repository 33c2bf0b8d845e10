import type { APIGatewayProxyEvent } from 'aws-lambda';
import { PRIORITIES, PROVIDER_NAMES } from '../envelope';
import { HttpError } from '../errors';
import { jsonResponse } from '../http/api-gateway';
import { RedriveConflictError } from '../queue/redrive';
import {
  encodeCursor,
  eventQuerySchema,
  replayEvent,
  toEventQuery,
  toPublicEvent,
  toPublicEventDetail,
  visibleEvent,
} from './events';
import { ledger, ledgerQuerySchema } from './ledger';
import { metricsQuerySchema, toMetricsQuery, toPublicMetrics } from './metrics';
import { eventIdParam, parseBody, parseQuery } from './request';
import type { RouteContext } from './route-context';
import type { Router } from './router';
import { redriveSchema } from './schemas';
import { StatusService, statusQuerySchema } from './status';

/** Status, the event log (list, read, replay), the ledger and DLQ redrive. */
export function addOperationRoutes(router: Router, context: RouteContext): void {
  const { deps, now, log, caller } = context;
  const status = new StatusService({
    ...deps,
    providers: deps.providers ?? PROVIDER_NAMES,
    now,
    cacheTtlMs: deps.statusCacheTtlMs,
  });
  const requireOperator = (event: APIGatewayProxyEvent) =>
    context.operator(event, 'act on the dead-letter queues');

  router
    .on('GET', '/api/webhooks/status', async ({ event }) => {
      const who = await caller(event);
      const query = parseQuery(event, statusQuerySchema);
      return jsonResponse(200, await status.status(who, query));
    })
    .on('GET', '/api/webhooks/events', async ({ event }) => {
      const query = toEventQuery(await caller(event), parseQuery(event, eventQuerySchema), now());
      const page = await deps.events.list(query);
      return jsonResponse(200, {
        success: true,
        events: page.items.map(toPublicEvent),
        next_cursor: encodeCursor(page.next),
      });
    })
    .on('GET', '/api/webhooks/events/{id}', async ({ event, params }) => {
      const item = await visibleEvent(deps.events, eventIdParam(params), await caller(event));
      return jsonResponse(200, { success: true, event: toPublicEventDetail(item) });
    })
    .on('POST', '/api/webhooks/events/{id}/replay', async ({ event, params }) => {
      const replay = await replayEvent({ ...deps, now, log }, eventIdParam(params), await caller(event));
      return jsonResponse(202, { success: true, replay });
    })
    .on('GET', '/api/webhooks/ledger', async ({ event }) => {
      const query = parseQuery(event, ledgerQuerySchema);
      return jsonResponse(200, await ledger(deps.events, await caller(event), query, now()));
    })
    .on('GET', '/api/webhooks/metrics', async ({ event }) => {
      const query = toMetricsQuery(await caller(event), parseQuery(event, metricsQuerySchema), now());
      const rows = await deps.history.read(query);
      return jsonResponse(200, { success: true, metrics: rows.map(toPublicMetrics) });
    })
    .on('GET', '/api/webhooks/dlq', async ({ event }) => {
      await requireOperator(event);
      const queues = await Promise.all(PRIORITIES.map((priority) => deps.redrive.progress(priority)));
      return jsonResponse(200, { success: true, queues });
    })
    .on('POST', '/api/webhooks/dlq/redrive', async ({ event }) => {
      await requireOperator(event);
      const body = parseBody(event, redriveSchema);
      try {
        const task = await deps.redrive.start(body.priority, { maxPerSecond: body.max_messages_per_second });
        return jsonResponse(202, { success: true, task });
      } catch (error) {
        if (error instanceof RedriveConflictError)
          throw new HttpError(409, 'redrive_running', 'A redrive of this DLQ is already running');
        throw error;
      }
    });
}
