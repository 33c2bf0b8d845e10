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
import type { RouteContext } from './route-context';
import type { Router } from './router';

/**
 * Alert rules and the alerts they raise are the on-call team's: any operator creates, reads, changes
 * and deletes any rule (they watch every owner's provider metrics), and sees and acknowledges every
 * alert; `created_by` and `acknowledged_by` say who. Other users see no alerts.
 */
export function addAlertRoutes(router: Router, context: RouteContext): void {
  const { deps, now, newId, log } = context;
  const ruleOwner = (event: APIGatewayProxyEvent) =>
    context.operator(event, "manage alert rules (they watch every tenant's provider metrics)");
  const teamRule = async (id: string) => {
    const rule = await deps.alerts.getRule(id);
    // The stack's default rules are configuration, not rows: only API-created rules are listed here.
    if (!rule) throw new NotFoundError('No such alert rule');
    return rule;
  };

  router
    .on('POST', '/api/webhooks/alert-rules', async ({ event }) => {
      const userId = await ruleOwner(event);
      const body = parseBody(event, alertRuleSchema);
      const rule = await deps.alerts.createRule(ruleFromBody(body, newId(), userId, now().toISOString()));
      await announce(rule, 'created');
      return jsonResponse(201, { success: true, rule: toPublicRule(rule) });
    })
    .on('GET', '/api/webhooks/alert-rules', async ({ event }) => {
      await ruleOwner(event);
      const rules = await deps.alerts.listRules();
      return jsonResponse(200, { success: true, rules: rules.map(toPublicRule) });
    })
    .on('GET', '/api/webhooks/alert-rules/{id}', async ({ event, params }) => {
      await ruleOwner(event);
      const rule = await teamRule(uuidParam(params, 'alert rule'));
      return jsonResponse(200, { success: true, rule: toPublicRule(rule) });
    })
    .on('PATCH', '/api/webhooks/alert-rules/{id}', async ({ event, params }) => {
      await ruleOwner(event);
      const changes = parseBody(event, alertRuleUpdateSchema);
      const id = uuidParam(params, 'alert rule');
      const current = await teamRule(id);
      // The changed rule must be valid as a whole (a threshold of 150 is fine for a volume, not a rate).
      const merged = alertRuleSchema.safeParse({ ...bodyOfRule(current), ...definedOnly(changes) });
      if (!merged.success) throw ValidationFailedError.fromZod(merged.error);
      const { id: _, userId: __, createdAt: ___, ...fields } = ruleFromBody(merged.data, id, null, '');
      const rule = await deps.alerts.updateRule(id, fields);
      if (!rule) throw new NotFoundError('No such alert rule');
      await announce(rule, 'updated');
      return jsonResponse(200, { success: true, rule: toPublicRule(rule) });
    })
    .on('DELETE', '/api/webhooks/alert-rules/{id}', async ({ event, params }) => {
      const userId = await ruleOwner(event);
      const id = uuidParam(params, 'alert rule');
      if (!(await deps.alerts.deleteRule(id))) throw new NotFoundError('No such alert rule');
      await announce({ id, userId }, 'deleted');
      return { statusCode: 204, headers: { 'Cache-Control': 'no-store' }, body: '' };
    })
    .on('GET', '/api/webhooks/alerts', async ({ event }) => {
      const { operator } = await context.caller(event);
      const params = parseQuery(event, alertQuerySchema);
      const alerts = await deps.alerts.listAlerts(toAlertQuery(operator, params, now()));
      return jsonResponse(200, { success: true, alerts: alerts.map(toPublicAlert) });
    })
    .on('POST', '/api/webhooks/alerts/{id}/acknowledge', async ({ event, params }) => {
      const id = uuidParam(params, 'alert');
      const { userId, operator } = await context.caller(event);
      // The team's alerts: another user's acknowledge finds nothing, as for a missing alert.
      const alert = operator ? await deps.alerts.acknowledge(id, userId, now()) : undefined;
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
