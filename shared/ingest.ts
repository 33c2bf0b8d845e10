import { randomUUID } from 'node:crypto';
import { ForbiddenError, TooManyRequestsError } from './api/errors';
import { IpAllowlist } from './api/ip-allowlist';
import { mapLimited } from './concurrency';
import { type Envelope, envelopeSchema, type Priority, type ProviderName } from './envelope';
import {
  BadRequestError,
  EnqueueFailedError,
  HttpError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  TooManyEventsError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from './errors';
import { ownedKey, SYSTEM_OWNER } from './owner';
import { priorityOf } from './priority';
import { outboundMessageToken, PROVIDER_WIDE_SCOPE } from './providers/outbound-message-token';
import type { ProviderEvent, VerifySettings, WebhookProvider, WebhookRequest } from './providers/types';
import type { Quarantine } from './quarantine';
import type { EnvelopePublisher } from './queue/publisher';
import { RECORDED_STATUSES } from './rejections/causes';
import { type DiagnosisSecrets, diagnoseSignature } from './rejections/diagnose';
import { SOURCE_ACCOUNT_LABEL } from './source-account';
import type { EventLog } from './stores/event-log';
import type { RateLimiter } from './stores/rate-limiter';
import type { Rejection } from './stores/rejections';
import {
  acceptedSecrets,
  type ConfigLookup,
  DEFAULT_MAX_EVENTS_PER_REQUEST,
  type WebhookConfig,
} from './stores/webhook-configs';

/** What the per-config endpoints (`/api/webhooks/{provider}/{configId}`) need besides the rest. */
export interface TenantDeps {
  /** Config by id, cached per instance. */
  configs: ConfigLookup;
  /** The config's `rate_limit` per minute, shared by every instance. */
  rateLimiter: RateLimiter;
  /** Binds an unbound config to an account; returns the account it ends up bound to (see WebhookConfigStore). */
  bindSourceAccount: (configId: string, account: string) => Promise<string | undefined>;
}

/** Provider-specific settings of the provider-wide endpoint besides the secrets. */
export type ProviderSettings = Omit<VerifySettings, 'secrets' | 'outboundMessageTokens'> & {
  /**
   * Salesforce: take Outbound Messages on the provider-wide endpoint, with the token derived from
   * the provider's secret (shared/providers/outbound-message-token.ts) and `orgId`. Off by default.
   */
  acceptOutboundMessages?: boolean;
};

export interface IngestDeps {
  provider: WebhookProvider;
  /** Accepted signing secrets, current first (rotation keeps the previous one valid). */
  secrets: () => Promise<readonly string[]>;
  /** Provider-specific verification settings besides the secrets (public key, audience, org id...). */
  settings?: ProviderSettings;
  publisher: EnvelopePublisher;
  maxBodyBytes: number;
  /**
   * The most events one request may carry (413 above): the provider-wide endpoints' cap, and the
   * ceiling of every config's `max_events_per_request`. Default 1000.
   */
  maxEventsPerRequest?: number;
  priorities?: Readonly<Record<string, Priority>>;
  now?: () => Date;
  /** Absent where no configs table is configured: per-config endpoints then answer 404. */
  tenants?: TenantDeps;
  /** Where refused deliveries are recorded (shared/stores/rejections.ts); absent: only logged. */
  rejections?: { record(rejection: Rejection): Promise<void> };
  /** A rejection that could not be recorded (the answer is the same either way). */
  onRecordError?: (error: unknown) => void;
  /**
   * Records each acceptance on the delivery's event log entry (the ledger's receipts) before the
   * 2xx; absent, nothing is recorded.
   */
  receipts?: Pick<EventLog, 'receive'>;
  /**
   * Keeps verified deliveries the provider's parser, or SQS, refuses (answered 2xx); absent, they
   * are answered 400 (or 503) as any bad input.
   */
  quarantine?: Pick<Quarantine, 'park'>;
  /** Ids of acceptances (a random UUID by default). */
  newId?: () => string;
}

/** The default cap of events per request on every endpoint (`ingest.maxEventsPerRequest`). */
export const DEFAULT_MAX_EVENTS_CEILING = 1000;

export interface IngestResult {
  accepted: number;
  /**
   * Per-config endpoints only: events of the delivery that the config does not subscribe to, or
   * (in a batch mixing accounts) from an account it is not bound to, acknowledged and not enqueued.
   */
  ignored?: number;
  deliveryIds: string[];
  /** Verified, but kept in the quarantine instead: its event log id, and why. */
  quarantined?: { id: string; reason: string };
}

/** Receipts written at once per delivery (a HubSpot batch holds up to 100 events). */
const RECEIPT_CONCURRENCY = 25;

/**
 * The whole ingest hot path: cheap checks, signature, parse, route, enqueue, receipt. It returns
 * only after every envelope is in SQS and recorded, so a 2xx never loses an event; any failure
 * throws and the provider retries. A verified delivery the parser (or SQS) refuses is kept in the
 * quarantine and answered 2xx instead: a 4xx would make the provider drop it. A refused delivery
 * (401, 403, 413, 415, 429) is recorded with its cause for its owner before the error goes back to
 * the caller.
 */
export async function ingest(
  deps: IngestDeps,
  request: WebhookRequest,
  configId?: string,
): Promise<IngestResult> {
  const attempt: Attempt = { now: deps.now?.() ?? new Date() };
  try {
    return await ingestChecked(deps, request, configId, attempt);
  } catch (error) {
    await recordRejection(deps, request, configId, attempt, error);
    throw error;
  }
}

/** What a failed attempt leaves for its rejection record: when, and the config if it got that far. */
interface Attempt {
  now: Date;
  config?: WebhookConfig;
  /** What diagnosing a signature mismatch may try (only set once the cheap checks passed). */
  diagnosis?: DiagnosisSecrets;
}

async function ingestChecked(
  deps: IngestDeps,
  request: WebhookRequest,
  configId: string | undefined,
  attempt: Attempt,
): Promise<IngestResult> {
  const { now } = attempt;
  if (request.method !== 'POST') throw new MethodNotAllowedError(['POST']);
  if (configId !== undefined) attempt.config = await activeConfig(deps, configId);
  if (request.body.length > deps.maxBodyBytes) throw new PayloadTooLargeError(deps.maxBodyBytes);
  assertMediaType(request, deps.provider.mediaTypes);

  // Per-config endpoint, cheapest checks first: config (cached, 404), source IP (in memory, 403),
  // signature (CPU only, 401), and only then the rate limit (one DynamoDB round trip, 429), so an
  // unsigned flood against a known URL never consumes the tenant's quota nor costs a write.
  let config = attempt.config;
  if (config) assertSourceAllowed(config, request);

  if (!config) {
    const secrets = await deps.secrets();
    attempt.diagnosis = { accepted: secrets, retired: [] };
    await verify(deps, request, providerSettings(deps, secrets), now);
  } else {
    try {
      attempt.diagnosis = await diagnosisSecrets(deps, config, now);
      await verify(deps, request, configSettings(deps, config, now), now);
    } catch (error) {
      // The cached config may predate a rotation: read it again (the cache does so at most every
      // few seconds, so a flood of bad signatures costs few reads) and verify once more if its
      // secrets changed.
      const fresh = await refreshedConfig(deps, config, error);
      attempt.config = fresh;
      assertSourceAllowed(fresh, request);
      attempt.diagnosis = await diagnosisSecrets(deps, fresh, now);
      await verify(deps, request, configSettings(deps, fresh, now), now);
      config = fresh;
    }
  }

  // One unit of the config's rate limit before parsing (an exhausted config is refused without the
  // work), the rest of the delivery's events once they are known.
  const limiter = config && deps.tenants ? { tenants: deps.tenants, config } : undefined;
  if (limiter) await consumeRateLimit(limiter.tenants, limiter.config, now, 1);

  const ownerId = config ? config.userId : SYSTEM_OWNER;
  const acceptanceId = (deps.newId ?? randomUUID)();
  const park = async (reason: string): Promise<IngestResult> => {
    if (!deps.quarantine) throw new Error('No quarantine configured');
    const id = await deps.quarantine.park(request, {
      provider: deps.provider.name,
      ownerId,
      configId: config?.id,
      reason,
      receivedAt: now,
      acceptanceId,
    });
    return { accepted: 0, ...(config ? { ignored: 0 } : {}), deliveryIds: [], quarantined: { id, reason } };
  };

  let events: ProviderEvent[];
  try {
    events = deps.provider.parse(request, now);
  } catch (error) {
    // Verified, so the provider's own: kept for a replay once the parser knows the shape.
    if (!(error instanceof BadRequestError) || !deps.quarantine) throw error;
    return park(`Not what the ${deps.provider.name} parser expects: ${error.message}`);
  }
  const cap = eventCap(deps, config);
  if (events.length > cap.limit) throw new TooManyEventsError(events.length, cap.limit, cap.setting);
  const fromAccount =
    config && deps.tenants
      ? await eventsOfBoundAccount(deps.provider, deps.tenants, config, request, events)
      : events;
  const wanted = config ? fromAccount.filter((event) => config.events.includes(event.eventType)) : events;
  // Every enqueued event counts against the config's rate limit: one request fanning out into many
  // messages pays for each of them.
  if (limiter && wanted.length > 1)
    await consumeRateLimit(limiter.tenants, limiter.config, now, wanted.length - 1);
  const envelopes = toEnvelopes(deps.provider.name, wanted, {
    ownerId,
    config,
    priorities: deps.priorities,
    source: sourceOf(deps.provider, request),
    now,
  });
  if (envelopes.length > 0) {
    try {
      await deps.publisher.publish(envelopes);
    } catch (error) {
      const refused = refusedBySqs(error);
      if (refused === undefined || !deps.quarantine) throw error;
      return park(`SQS refused the delivery: ${refused}`);
    }
    await recordReceipts(deps, envelopes, acceptanceId, now);
  }
  return {
    accepted: envelopes.length,
    ...(config ? { ignored: events.length - wanted.length } : {}),
    deliveryIds: [...new Set(envelopes.map((e) => e.deliveryId))],
  };
}

async function consumeRateLimit(
  tenants: TenantDeps,
  config: WebhookConfig,
  now: Date,
  events: number,
): Promise<void> {
  const decision = await tenants.rateLimiter.consume(`config#${config.id}`, config.rateLimit, now, events);
  if (!decision.allowed) throw new TooManyRequestsError(decision.retryAfterSeconds ?? 60);
}

/**
 * The most events a request may carry here: the deployment's cap, a config's own
 * `max_events_per_request`, and never more than its `rate_limit` (such a request could never pass).
 */
function eventCap(deps: IngestDeps, config: WebhookConfig | undefined): { limit: number; setting: string } {
  const ceiling = deps.maxEventsPerRequest ?? DEFAULT_MAX_EVENTS_CEILING;
  if (!config) return { limit: ceiling, setting: 'ingest.maxEventsPerRequest' };
  const own = Math.min(config.maxEventsPerRequest ?? DEFAULT_MAX_EVENTS_PER_REQUEST, ceiling);
  return config.rateLimit < own
    ? { limit: config.rateLimit, setting: 'rate_limit, events per minute' }
    : { limit: own, setting: 'max_events_per_request' };
}

/**
 * Records a refused delivery for the owner of the endpoint it was sent to, with its cause; a
 * signature mismatch is diagnosed first (shared/rejections/diagnose.ts). Unknown or inactive
 * endpoints (404) have no owner to show it to and are not recorded. Recording never changes the answer.
 */
async function recordRejection(
  deps: IngestDeps,
  request: WebhookRequest,
  configId: string | undefined,
  attempt: Attempt,
  error: unknown,
): Promise<void> {
  if (!deps.rejections || !(error instanceof HttpError) || !RECORDED_STATUSES.has(error.statusCode)) return;
  if (configId !== undefined && !attempt.config) return;
  let reason = error.reason ?? { cause: 'signature_mismatch' as const };
  if (reason.cause === 'signature_mismatch' && attempt.diagnosis)
    reason = diagnoseSignature(deps.provider, request, attempt.diagnosis);
  const userAgent = request.headers['user-agent']?.slice(0, 256);
  try {
    await deps.rejections.record({
      ownerId: attempt.config?.userId ?? SYSTEM_OWNER,
      provider: deps.provider.name,
      ...(attempt.config && { configId: attempt.config.id }),
      status: error.statusCode,
      cause: reason.cause,
      ...(reason.detail && { detail: reason.detail }),
      message: error.message.slice(0, 300),
      sourceIp: request.sourceIp.slice(0, 64),
      ...(userAgent !== undefined && { userAgent }),
      bodyBytes: request.body.length,
      receivedAt: attempt.now.toISOString(),
    });
  } catch (recordError) {
    deps.onRecordError?.(recordError);
  }
}

/**
 * What a signature mismatch on a per-config endpoint is diagnosed against: its accepted secrets, and
 * as retired ones its previous secret past the grace period and the provider-wide secrets.
 */
async function diagnosisSecrets(
  deps: IngestDeps,
  config: WebhookConfig,
  now: Date,
): Promise<DiagnosisSecrets> {
  const accepted = acceptedSecrets(config, now);
  const retired: { secret: string; which: string }[] = [];
  if (config.previousSecret && !accepted.includes(config.previousSecret))
    retired.push({ secret: config.previousSecret, which: 'expired_previous_secret' });
  for (const secret of await deps.secrets()) retired.push({ secret, which: 'provider_wide_secret' });
  return { accepted, retired };
}

/**
 * The envelopes of a delivery's events: owned (two owners receiving the same provider event get
 * two deliveries, each in its own order), with the config's id and limits when one received it.
 */
export function toEnvelopes(
  provider: ProviderName,
  events: readonly ProviderEvent[],
  context: {
    ownerId: string;
    config?: Pick<WebhookConfig, 'id' | 'retryAttempts' | 'timeoutMs'>;
    priorities?: Readonly<Record<string, Priority>>;
    /** Where the request came from (sourceOf). */
    source?: Envelope['source'];
    now: Date;
  },
): Envelope[] {
  const { ownerId, config } = context;
  return events.map((event) =>
    envelopeSchema.parse({
      version: 1,
      provider,
      priority: priorityOf(provider, event.eventType, context.priorities),
      receivedAt: context.now.toISOString(),
      ...event,
      dedupKey: ownedKey(ownerId, event.dedupKey),
      orderingKey: ownedKey(ownerId, event.orderingKey),
      ownerId,
      ...(config && {
        configId: config.id,
        limits: { retryAttempts: config.retryAttempts, timeoutMs: config.timeoutMs },
      }),
      source: context.source,
    }),
  );
}

/**
 * The acceptance, on each delivery's event log entry: without it the 2xx is not given (503, the
 * provider delivers again, and SQS or the event log recognises what was already enqueued).
 */
async function recordReceipts(
  deps: IngestDeps,
  envelopes: readonly Envelope[],
  acceptanceId: string,
  now: Date,
): Promise<void> {
  const { receipts } = deps;
  if (!receipts) return;
  await mapLimited(envelopes, RECEIPT_CONCURRENCY, (envelope) =>
    receipts.receive(envelope, acceptanceId, now),
  ).catch((error: unknown) => {
    throw new EnqueueFailedError('Could not record the delivery, retry later', { cause: error });
  });
}

/** SQS's answers to a message it will never take from this sender, whatever the retries. */
const SQS_SENDER_FAULTS = new Set(['InvalidMessageContents', 'MessageTooLong', 'BatchRequestTooLong']);

/**
 * Why SQS refused a delivery as the sender's fault (characters it does not take, too large), or
 * undefined for a failure that passes (answered 503: the provider delivers again). The hook for
 * the publisher's error: an error marked `senderFault`, or SQS's own client-fault error, in the
 * cause chain.
 */
export function refusedBySqs(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; depth++) {
    const fault = current as Error & { senderFault?: unknown; $fault?: unknown };
    if (fault.senderFault === true || (fault.$fault === 'client' && SQS_SENDER_FAULTS.has(fault.name)))
      return `${fault.name}: ${fault.message}`;
    current = current.cause;
  }
  return undefined;
}

/**
 * The events a config may take, by the provider account they come from. A config bound to an
 * account refuses a delivery from any other (403, with the account named); in a batch mixing
 * accounts (one HubSpot app installed in several portals) the other accounts' events are
 * acknowledged and ignored. An unbound config learns its account from its first verified delivery
 * that names exactly one.
 */
async function eventsOfBoundAccount(
  provider: WebhookProvider,
  tenants: TenantDeps,
  config: WebhookConfig,
  request: WebhookRequest,
  events: ProviderEvent[],
): Promise<ProviderEvent[]> {
  const accountOf = (event: ProviderEvent) => provider.sourceAccountOf(request, event);
  let bound = config.sourceAccount;
  if (bound === undefined) {
    const accounts = new Set(events.map(accountOf));
    const [only] = accounts;
    if (accounts.size !== 1 || only === undefined) return events;
    bound = await tenants.bindSourceAccount(config.id, only);
    if (bound === undefined) throw new NotFoundError('No such webhook endpoint');
  }
  const own = events.filter((event) => accountOf(event) === bound);
  if (own.length === 0 && events.length > 0) {
    const label = SOURCE_ACCOUNT_LABEL[provider.name];
    const other = events.map(accountOf).find((account) => account !== undefined);
    throw new ForbiddenError(
      other === undefined
        ? `This webhook takes deliveries from ${label} ${bound} only; the delivery names no ${label}`
        : `Delivery from ${label} ${other}; this webhook takes deliveries from ${label} ${bound} only`,
    ).because('source_account_mismatch', { bound, ...(other !== undefined && { received: other }) });
  }
  return own;
}

/** What the delivery's record keeps of where it came from (the seed's source_ip, user_agent, signature). */
export function sourceOf(
  provider: WebhookProvider,
  request: WebhookRequest,
): NonNullable<Envelope['source']> {
  const clip = (value: string | undefined) => (value === undefined ? undefined : value.slice(0, 512));
  const userAgent = clip(request.headers['user-agent']);
  const signature = clip(provider.signatureOf(request));
  return {
    ip: request.sourceIp.slice(0, 64),
    ...(userAgent !== undefined && { userAgent }),
    ...(signature !== undefined && { signature }),
  };
}

/** The config behind a per-config URL: unknown, another provider's or inactive all look the same (404). */
async function activeConfig(deps: IngestDeps, configId: string, refresh = false): Promise<WebhookConfig> {
  const id = configId.toLowerCase();
  const config =
    deps.tenants && UUID.test(id)
      ? await (refresh ? deps.tenants.configs(id, { refresh }) : deps.tenants.configs(id))
      : undefined;
  if (!config || config.provider !== deps.provider.name || !config.active)
    throw new NotFoundError('No such webhook endpoint');
  return config;
}

async function refreshedConfig(
  deps: IngestDeps,
  cached: WebhookConfig,
  failure: unknown,
): Promise<WebhookConfig> {
  if (!(failure instanceof UnauthorizedError)) throw failure;
  const fresh = await activeConfig(deps, cached.id, true);
  if (fresh.secret === cached.secret && fresh.previousSecret === cached.previousSecret) throw failure;
  return fresh;
}

/** Compiled once per cached config object, not on every delivery. */
const allowlists = new WeakMap<WebhookConfig, IpAllowlist>();

function assertSourceAllowed(config: WebhookConfig, request: WebhookRequest): void {
  let allowlist = allowlists.get(config);
  if (!allowlist) {
    allowlist = new IpAllowlist(config.ipWhitelist);
    allowlists.set(config, allowlist);
  }
  if (!allowlist.allows(request.sourceIp))
    throw new ForbiddenError('Source IP not allowed for this webhook').because('source_ip_not_allowed');
}

/**
 * A per-config endpoint trusts the config's secrets only: not the provider's global public key,
 * audience or org id, which would let deliveries meant for the operator's own org in. So a
 * Salesforce config takes HS256 bearer tokens signed with its secret, and Outbound Messages that
 * carry the token of its secret (then from its bound org only: see eventsOfBoundAccount).
 */
function configSettings(deps: IngestDeps, config: WebhookConfig, now: Date): VerifySettings {
  const secrets = acceptedSecrets(config, now);
  return {
    secrets,
    acceptLegacySignatures: deps.settings?.acceptLegacySignatures,
    maxTokenLifetimeSeconds: deps.settings?.maxTokenLifetimeSeconds,
    ...(deps.provider.name === 'salesforce' && {
      outboundMessageTokens: secrets.map((secret) => outboundMessageToken(secret, config.id)),
    }),
  };
}

/** The provider-wide endpoint: the deployment's secrets and settings; Outbound Messages only when enabled. */
function providerSettings(deps: IngestDeps, secrets: readonly string[]): VerifySettings {
  const { acceptOutboundMessages, ...settings } = deps.settings ?? {};
  const outboundMessages = deps.provider.name === 'salesforce' && acceptOutboundMessages && settings.orgId;
  return {
    ...settings,
    secrets,
    ...(outboundMessages && {
      outboundMessageTokens: secrets.map((secret) => outboundMessageToken(secret, PROVIDER_WIDE_SCOPE)),
    }),
  };
}

async function verify(
  deps: IngestDeps,
  request: WebhookRequest,
  settings: VerifySettings,
  now: Date,
): Promise<void> {
  if (settings.secrets.length === 0 && !settings.publicKey) {
    throw new Error(`No signing secret or key configured for ${deps.provider.name}`);
  }
  await deps.provider.verify(request, settings, now);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function assertMediaType(request: WebhookRequest, accepted: readonly string[]): void {
  const header = request.headers['content-type'];
  // Providers always send one; a missing header is tolerated so hand-made test requests still work.
  if (!header) return;
  const mediaType = header.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (!accepted.includes(mediaType)) throw new UnsupportedMediaTypeError(accepted.join(' or '));
}
