import { randomUUID } from 'node:crypto';
import { ForbiddenError, TooManyRequestsError } from './api/errors';
import { IpAllowlist } from './api/ip-allowlist';
import { mapLimited } from './concurrency';
import { type Envelope, envelopeSchema, type Priority, type ProviderName } from './envelope';
import {
  BadRequestError,
  EnqueueFailedError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from './errors';
import { ownedKey, SYSTEM_OWNER } from './owner';
import { priorityOf } from './priority';
import type { ProviderEvent, VerifySettings, WebhookProvider, WebhookRequest } from './providers/types';
import type { Quarantine } from './quarantine';
import type { EnvelopePublisher } from './queue/publisher';
import { SOURCE_ACCOUNT_LABEL } from './source-account';
import type { EventLog } from './stores/event-log';
import type { RateLimiter } from './stores/rate-limiter';
import { acceptedSecrets, type ConfigLookup, type WebhookConfig } from './stores/webhook-configs';

/** What the per-config endpoints (`/api/webhooks/{provider}/{configId}`) need besides the rest. */
export interface TenantDeps {
  /** Config by id, cached per instance. */
  configs: ConfigLookup;
  /** The config's `rate_limit` per minute, shared by every instance. */
  rateLimiter: RateLimiter;
  /** Binds an unbound config to an account; returns the account it ends up bound to (see WebhookConfigStore). */
  bindSourceAccount: (configId: string, account: string) => Promise<string | undefined>;
}

export interface IngestDeps {
  provider: WebhookProvider;
  /** Accepted signing secrets, current first (rotation keeps the previous one valid). */
  secrets: () => Promise<readonly string[]>;
  /** Provider-specific verification settings besides the secrets (public key, audience, org id...). */
  settings?: Omit<VerifySettings, 'secrets'>;
  publisher: EnvelopePublisher;
  maxBodyBytes: number;
  priorities?: Readonly<Record<string, Priority>>;
  now?: () => Date;
  /** Absent where no configs table is configured: per-config endpoints then answer 404. */
  tenants?: TenantDeps;
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
 * quarantine and answered 2xx instead: a 4xx would make the provider drop it.
 */
export async function ingest(
  deps: IngestDeps,
  request: WebhookRequest,
  configId?: string,
): Promise<IngestResult> {
  if (request.method !== 'POST') throw new MethodNotAllowedError(['POST']);
  if (request.body.length > deps.maxBodyBytes) throw new PayloadTooLargeError(deps.maxBodyBytes);
  assertMediaType(request, deps.provider.mediaTypes);
  const now = deps.now?.() ?? new Date();

  // Per-config endpoint, cheapest checks first: config (cached, 404), source IP (in memory, 403),
  // signature (CPU only, 401), and only then the rate limit (one DynamoDB round trip, 429), so an
  // unsigned flood against a known URL never consumes the tenant's quota nor costs a write.
  let config = configId === undefined ? undefined : await activeConfig(deps, configId);
  if (config) assertSourceAllowed(config, request);

  if (!config) {
    await verify(deps, request, { ...deps.settings, secrets: await deps.secrets() }, now);
  } else {
    try {
      await verify(deps, request, configSettings(deps, config, now), now);
    } catch (error) {
      // The cached config may predate a rotation: read it again (the cache does so at most every
      // few seconds, so a flood of bad signatures costs few reads) and verify once more if its
      // secrets changed.
      const fresh = await refreshedConfig(deps, config, error);
      assertSourceAllowed(fresh, request);
      await verify(deps, request, configSettings(deps, fresh, now), now);
      config = fresh;
    }
  }

  if (config && deps.tenants) {
    const decision = await deps.tenants.rateLimiter.consume(`config#${config.id}`, config.rateLimit, now);
    if (!decision.allowed) throw new TooManyRequestsError(decision.retryAfterSeconds ?? 60);
  }

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
  const fromAccount =
    config && deps.tenants
      ? await eventsOfBoundAccount(deps.provider, deps.tenants, config, request, events)
      : events;
  const wanted = config ? fromAccount.filter((event) => config.events.includes(event.eventType)) : events;
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
    );
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
  if (!allowlist.allows(request.sourceIp)) throw new ForbiddenError('Source IP not allowed for this webhook');
}

/**
 * A per-config endpoint trusts the config's secrets only: not the provider's global public key,
 * audience or org id, which would let deliveries meant for the operator's own org in. So a
 * Salesforce config takes HS256 bearer tokens signed with its secret, and no Outbound Messages
 * (they carry no signature, only an org id).
 */
function configSettings(deps: IngestDeps, config: WebhookConfig, now: Date): VerifySettings {
  return {
    secrets: acceptedSecrets(config, now),
    acceptLegacySignatures: deps.settings?.acceptLegacySignatures,
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
