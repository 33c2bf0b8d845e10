import type { APIGatewayProxyEvent } from 'aws-lambda';
import {
  type AlertRule,
  alertRuleSchema,
  alertRuleUpdateSchema,
  bodyOfRule,
  ruleFromBody,
  rulesChanged,
  toPublicRule,
} from '../alerts/rules';
import { toPublicAlert } from '../alerts/store';
import { NotFoundError } from '../errors';
import { jsonResponse } from '../http/api-gateway';
import { alertQuerySchema, toAlertQuery } from './alerts';
import { ValidationFailedError } from './errors';
import { definedOnly, parseBody, parseQuery, uuidParam } from './request';
import { isOperator, type RouteContext } from './route-context';
import type { Router } from './router';

/** Alert rules (operators) and the alerts they raised (each user's own; operators' ops alerts too). */
export function addAlertRoutes(router: Router, context: RouteContext): void {
  const { deps, now, newId, log } = context;
  const ruleOwner = (event: APIGatewayProxyEvent) =>
    context.operator(event, "manage alert rules (they watch every tenant's provider metrics)");

  router
    .on('POST', '/api/webhooks/alert-rules', async ({ event }) => {
      const userId = await ruleOwner(event);
      const body = parseBody(event, alertRuleSchema);
      const rule = await deps.alerts.createRule(ruleFromBody(body, newId(), userId, now().toISOString()));
      await announce(rule, 'created');
      return jsonResponse(201, { success: true, rule: toPublicRule(rule) });
    })
    .on('GET', '/api/webhooks/alert-rules', async ({ event }) => {
      const rules = await deps.alerts.listRules(await ruleOwner(event));
      return jsonResponse(200, { success: true, rules: rules.map(toPublicRule) });
    })
    .on('GET', '/api/webhooks/alert-rules/{id}', async ({ event, params }) => {
      const rule = await deps.alerts.getOwnedRule(uuidParam(params, 'alert rule'), await ruleOwner(event));
      if (!rule) throw new NotFoundError('No such alert rule');
      return jsonResponse(200, { success: true, rule: toPublicRule(rule) });
    })
    .on('PATCH', '/api/webhooks/alert-rules/{id}', async ({ event, params }) => {
      const userId = await ruleOwner(event);
      const changes = parseBody(event, alertRuleUpdateSchema);
      const id = uuidParam(params, 'alert rule');
      const current = await deps.alerts.getOwnedRule(id, userId);
      if (!current) throw new NotFoundError('No such alert rule');
      // The changed rule must be valid as a whole (a threshold of 150 is fine for a volume, not a rate).
      const merged = alertRuleSchema.safeParse({ ...bodyOfRule(current), ...definedOnly(changes) });
      if (!merged.success) throw ValidationFailedError.fromZod(merged.error);
      const { id: _, userId: __, createdAt: ___, ...fields } = ruleFromBody(merged.data, id, userId, '');
      const rule = await deps.alerts.updateRule(id, userId, fields);
      if (!rule) throw new NotFoundError('No such alert rule');
      await announce(rule, 'updated');
      return jsonResponse(200, { success: true, rule: toPublicRule(rule) });
    })
    .on('DELETE', '/api/webhooks/alert-rules/{id}', async ({ event, params }) => {
      const userId = await ruleOwner(event);
      const id = uuidParam(params, 'alert rule');
      if (!(await deps.alerts.deleteRule(id, userId))) throw new NotFoundError('No such alert rule');
      await announce({ id, userId }, 'deleted');
      return { statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
    })
    .on('GET', '/api/webhooks/alerts', async ({ event }) => {
      const identity = await context.identity(event);
      const params = parseQuery(event, alertQuerySchema);
      const query = toAlertQuery(identity.userId, isOperator(identity.groups), params, now());
      const alerts = await deps.alerts.listAlerts(query);
      return jsonResponse(200, { success: true, alerts: alerts.map(toPublicAlert) });
    })
    .on('POST', '/api/webhooks/alerts/{id}/acknowledge', async ({ event, params }) => {
      const identity = await context.identity(event);
      const id = uuidParam(params, 'alert');
      const alert = await deps.alerts.acknowledge(id, identity.userId, isOperator(identity.groups), now());
      if (!alert) throw new NotFoundError('No such alert');
      return jsonResponse(200, { success: true, alert: toPublicAlert(alert) });
    });

  /**
   * Tells the reconciler a rule changed. The change is stored either way: if the bus refuses, the
   * reconciler's schedule (every 15 minutes) catches up, so the request does not fail for it.
   */
  async function announce(rule: Pick<AlertRule, 'id' | 'userId'>, change: 'created' | 'updated' | 'deleted') {
    try {
      await deps.bus.publish([rulesChanged(rule.id, rule.userId ?? '', change)]);
    } catch (error) {
      log('could not announce the alert rule change', error);
    }
  }
}
