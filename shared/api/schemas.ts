import * as z from 'zod';
import { PRIORITIES, PROVIDER_NAMES } from '../envelope';
import { MAX_CONFIG_RETRY_ATTEMPTS } from '../process/retry-schedule';
import { providerCredentialsSchema } from '../registration';
import { normalizeSourceAccount, SOURCE_ACCOUNT_LABEL, sourceAccountExample } from '../source-account';
import { normalizeIpEntry } from './ip-allowlist';

const events = z
  .array(z.string().trim().min(1, 'Event names cannot be empty').max(200))
  .min(1, 'At least one event is required')
  .max(100)
  .transform((list) => [...new Set(list)]);

const rateLimit = z.int('Must be an integer').min(1).max(100_000);
const timeoutMs = z.int('Must be an integer').min(1_000).max(900_000);
const retryAttempts = z.int('Must be an integer').min(0).max(MAX_CONFIG_RETRY_ATTEMPTS);

/** IPv4/IPv6 addresses or CIDRs, stored in canonical form. */
const ipWhitelist = z
  .array(
    z.string().transform((entry, ctx) => {
      const normalized = normalizeIpEntry(entry);
      if (normalized === undefined) {
        ctx.addIssue({ code: 'custom', message: 'Must be an IPv4 or IPv6 address or CIDR' });
        return z.NEVER;
      }
      return normalized;
    }),
  )
  .max(100);

/**
 * The seed's `POST /api/webhooks/register` body. Unknown fields are refused (a misspelt
 * `rate_limt` must not silently fall back to the default). `webhook_url` is accepted for
 * compatibility but ignored: the endpoint is ours and is returned in the response.
 * `provider_credentials` (a shop access token, or a HubSpot app id and developer key) lets the
 * API create the subscription at the provider; without them the response says how to do it by hand.
 */
export const registerSchema = z
  .strictObject({
    provider: z.enum(PROVIDER_NAMES),
    events,
    webhook_url: z.url({ protocol: /^https?$/ }).optional(),
    secret: z.string().min(16, 'Must be at least 16 characters').max(512).optional(),
    rate_limit: rateLimit.default(100),
    timeout_ms: timeoutMs.default(30_000),
    retry_attempts: retryAttempts.default(3),
    ip_whitelist: ipWhitelist.default([]),
    provider_credentials: providerCredentialsSchema.optional(),
    /**
     * The provider account deliveries must come from: a Shopify shop domain, a HubSpot portal id or
     * a Salesforce org id. Absent: learned from the first verified delivery (shared/ingest.ts).
     */
    source_account: z.string().min(1).max(200).optional(),
  })
  .refine((body) => !body.provider_credentials || body.provider_credentials.provider === body.provider, {
    message: 'Must be credentials for the same provider',
    path: ['provider_credentials', 'provider'],
  })
  // A subscription the API creates belongs to the app, and Shopify and HubSpot sign an app's
  // deliveries with its client secret: a secret of our own would refuse every one of them.
  .refine((body) => !body.provider_credentials || body.secret !== undefined, {
    message:
      "The provider signs deliveries to subscriptions made with provider_credentials with the app's client secret: pass it as secret",
    path: ['secret'],
  })
  .transform((body, ctx) => {
    if (body.source_account === undefined) return body;
    const account = normalizeSourceAccount(body.provider, body.source_account);
    if (account === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: sourceAccountMessage(body.provider),
        path: ['source_account'],
      });
      return z.NEVER;
    }
    return { ...body, source_account: account };
  });

/** What a `source_account` of the provider must look like. */
export function sourceAccountMessage(provider: (typeof PROVIDER_NAMES)[number]): string {
  return `Must be a ${provider} ${SOURCE_ACCOUNT_LABEL[provider]} (e.g. ${sourceAccountExample(provider)})`;
}

export type RegisterRequest = z.infer<typeof registerSchema>;

/** `PATCH /api/webhooks/configs/{id}`: any of these, at least one. */
export const updateSchema = z
  .strictObject({
    events: events.optional(),
    rate_limit: rateLimit.optional(),
    timeout_ms: timeoutMs.optional(),
    retry_attempts: retryAttempts.optional(),
    ip_whitelist: ipWhitelist.optional(),
    active: z.boolean().optional(),
    /** Checked against the config's provider by the route (see registerSchema). */
    source_account: z.string().min(1).max(200).optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: 'Nothing to update',
  });

export type UpdateRequest = z.infer<typeof updateSchema>;

/** `POST /api/webhooks/dlq/redrive`: move one priority's dead letters back to its queue. */
export const redriveSchema = z.strictObject({
  priority: z.enum(PRIORITIES),
  /** Leave out to let SQS choose (up to 500/s); a low rate spares the database after an outage. */
  max_messages_per_second: z.int('Must be an integer').min(1).max(500).optional(),
});
