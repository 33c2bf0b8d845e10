import { getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { PgColumn, PgInsertValue, PgTable } from 'drizzle-orm/pg-core';
import type { Db } from '../../db/client';
import type { Envelope } from '../../envelope';

/**
 * Applies one event to its Postgres table through `writer`. Resolves true if the row changed, false
 * if the event was stale.
 */
export type EntityHandler = (writer: SyncedWriter, envelope: Envelope) => Promise<boolean>;

/**
 * The total order on events for one record: source time, then the provider's sequence, then the
 * delivery's dedup key. Times are compared at millisecond precision (every provider's precision).
 */
export interface Version {
  at: Date;
  sequence: number;
  eventId: string;
}

/**
 * How far after its receipt a source time may be. A later one is taken as the receipt time: the
 * source's clock may be off by a few minutes, but a date in the future (forged, or a broken clock)
 * must not make its row ignore every real update that follows.
 */
export const MAX_SOURCE_TIME_AHEAD_MS = 5 * 60_000;

export function versionOf(envelope: Envelope): Version {
  const sequence = Number(envelope.meta.sequence ?? 0);
  const occurred = Date.parse(envelope.occurredAt);
  const received = Date.parse(envelope.receivedAt);
  return {
    at: new Date(occurred > received + MAX_SOURCE_TIME_AHEAD_MS ? received : occurred),
    // A sequence must be a non-negative safe integer; anything else is clamped so the order stays total.
    sequence: Number.isSafeInteger(sequence) && sequence >= 0 ? sequence : sequence > 0 ? MAX_SEQUENCE : 0,
    eventId: envelope.dedupKey,
  };
}

const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;

/**
 * The version as text whose bytewise (COLLATE "C") order is the version order: fixed-width epoch
 * milliseconds (15 digits hold 1970..9999) and sequence (16 digits hold any safe integer), then the
 * event id. Data fields store it per field, where a row value cannot go.
 */
export function versionKey(version: Version): string {
  return `${String(version.at.getTime()).padStart(15, '0')}.${String(version.sequence).padStart(16, '0')}.${version.eventId}`;
}

/** What one event does to one row. */
export interface SyncedWrite {
  /** Whose row: the delivery's owner leads every synced_* key, so owners never share a row. */
  ownerId: string;
  /** The rest of the primary key by column property (`id`, `shopDomain`, ...), exact provider ids as text. */
  key: Record<string, string>;
  version: Version;
  eventType: string;
  /** Row level, when this event is the newest: a tombstone (deleted_at = its time) or a live row. */
  deleted: boolean;
  /** Row level: the record this one was merged into (HubSpot merges). */
  mergedInto?: string | null;
  /** The record changed in ways this event does not carry (Salesforce GAP_*); sticky until re-fetched. */
  needsRefetch?: boolean;
  /** Snapshot tables: the full document. Field tables: the changed fields. Undefined: no data. */
  data?: Record<string, unknown>;
}

interface SpecBase {
  table: PgTable;
  /** The primary key's column properties after `ownerId` (which leads every key), in key order. */
  key: readonly string[];
}

/** Full snapshots (Shopify): the newest snapshot replaces `payload` and its mirrored columns. */
export interface SnapshotSpec extends SpecBase {
  kind: 'snapshot';
  /** Column property -> value, derived from a snapshot. */
  mirror: (payload: Record<string, unknown>) => Record<string, unknown>;
}

/** One mirrored column of a field table: set from `field` whenever that field's change wins. */
export interface FieldMirror {
  column: string;
  field: string;
  convert: (value: unknown) => unknown;
}

/** Partial changes (HubSpot properties, Salesforce fields): each field keeps its newest value. */
export interface FieldsSpec extends SpecBase {
  kind: 'fields';
  document: string;
  versions: string;
  mirrors: readonly FieldMirror[];
}

export type SyncedTableSpec = SnapshotSpec | FieldsSpec;

/** Where entity handlers send their writes: straight to the database, or collected for a batch. */
export interface SyncedWriter {
  /** Applies one write; resolves true if the row changed visibly (see upsertMonotonic). */
  upsert(spec: SyncedTableSpec, write: SyncedWrite): Promise<boolean>;
}

/** A writer that runs each write as its own statement. */
export function directWriter(db: Db): SyncedWriter {
  return { upsert: async (spec, write) => (await upsertMonotonic(db, spec, [write]))[0] ?? false };
}

/**
 * The one monotonic upsert every synced_* table goes through: a single `INSERT ... ON CONFLICT DO
 * UPDATE ... WHERE ... RETURNING` statement for any number of rows (one Data API call, atomic on
 * each row).
 *
 * Row-level columns (source_*, deleted_at, merged_into) take the incoming values only when
 * `(stored version) <= (incoming version)`, compared as a row value. Data takes its own versions:
 * a snapshot replaces `payload` when it is not older than the stored snapshot, and each changed
 * field wins when it is not older than that field's stored version. The state after any set of
 * events is therefore a function of the set alone (the newest event decides the row, the newest
 * snapshot or per-field change decides the data) and equals applying them once in version order,
 * whatever the arrival order and however many duplicates.
 *
 * Resolves, per write, true when the event made a visible change: it is now the row's newest
 * event, or it changed the data or flags of a live row. An event that only refined the last known
 * fields of a tombstone, or changed nothing, resolves false (stale). Postgres updates a row once
 * per statement, so writes naming the same row go in statements one after another, in their order:
 * each resolves exactly as it would alone.
 */
export async function upsertMonotonic(
  db: Db,
  spec: SyncedTableSpec,
  writes: readonly SyncedWrite[],
): Promise<boolean[]> {
  const results: boolean[] = new Array(writes.length).fill(false);
  const rowKey = (write: SyncedWrite) =>
    JSON.stringify([write.ownerId, ...spec.key.map((k) => write.key[k])]);
  // Layer n holds the n-th write of each row.
  const layers: number[][] = [];
  const seen = new Map<string, number>();
  writes.forEach((write, index) => {
    const key = rowKey(write);
    const layer = seen.get(key) ?? 0;
    seen.set(key, layer + 1);
    if (!layers[layer]) layers[layer] = [];
    layers[layer].push(index);
  });
  for (const layer of layers) {
    const written = await upsertRows(
      db,
      spec,
      layer.map((index) => writes[index] as SyncedWrite),
    );
    for (const index of layer) {
      const write = writes[index] as SyncedWrite;
      const row = written.get(rowKey(write));
      results[index] = row !== undefined && (row.eventId === write.version.eventId || row.live);
    }
  }
  return results;
}

/** One statement for writes of distinct rows; answers the rows it changed, by row key. */
async function upsertRows(
  db: Db,
  spec: SyncedTableSpec,
  writes: readonly SyncedWrite[],
): Promise<Map<string, { eventId: string; live: boolean }>> {
  const columns = getTableColumns(spec.table) as Record<string, PgColumn>;
  const column = (property: string): PgColumn => {
    const found = columns[property];
    if (!found) throw new Error(`${property} is not a column of this table`);
    return found;
  };
  const excluded = (property: string): SQL => sql`excluded.${sql.identifier(column(property).name)}`;

  const rowWins = sql`(${column('sourceUpdatedAt')}, ${column('sourceSequence')}, ${column('sourceEventId')}) <= (${excluded('sourceUpdatedAt')}, ${excluded('sourceSequence')}, ${excluded('sourceEventId')})`;
  const whenRowWins = (property: string): SQL =>
    sql`CASE WHEN ${rowWins} THEN ${excluded(property)} ELSE ${column(property)} END`;

  const set: Record<string, SQL> = {
    sourceEventType: whenRowWins('sourceEventType'),
    sourceUpdatedAt: whenRowWins('sourceUpdatedAt'),
    sourceSequence: whenRowWins('sourceSequence'),
    sourceEventId: whenRowWins('sourceEventId'),
    deletedAt: whenRowWins('deletedAt'),
    mergedInto: whenRowWins('mergedInto'),
    // Sticky: an old gap still leaves fields we never saw; only a re-fetch clears it.
    needsRefetch: sql`${column('needsRefetch')} OR ${excluded('needsRefetch')}`,
    updatedAt: sql`now()`,
  };
  const changes: SQL[] = [rowWins, sql`(${excluded('needsRefetch')} AND NOT ${column('needsRefetch')})`];

  // Every row of the statement shares its SET: a row without data proposes NULL data versions,
  // which win nothing (a comparison with NULL is never true), so its stored data stays.
  const rows = writes.map((write) => ({
    ownerId: write.ownerId,
    ...write.key,
    sourceEventType: write.eventType,
    sourceUpdatedAt: write.version.at,
    sourceSequence: write.version.sequence,
    sourceEventId: write.version.eventId,
    deletedAt: write.deleted ? write.version.at : null,
    mergedInto: write.mergedInto ?? null,
    needsRefetch: write.needsRefetch ?? false,
  })) as Record<string, unknown>[];

  // Data versions are compared against the proposed row (`excluded`), which carries its event's
  // version key: no parameter is repeated and the statement reads row against row.
  if (spec.kind === 'snapshot') {
    const mirroredColumns = new Set<string>();
    writes.forEach((write, index) => {
      const row = rows[index] as Record<string, unknown>;
      row.payload = write.data ?? null;
      row.payloadVersion = write.data ? versionKey(write.version) : null;
      if (!write.data) return;
      const mirrored = spec.mirror(write.data);
      Object.assign(row, mirrored);
      for (const property of Object.keys(mirrored)) mirroredColumns.add(property);
    });
    if (writes.some((write) => write.data)) {
      const dataWins = sql`(coalesce(${column('payloadVersion')}, '') COLLATE "C") <= (${excluded('payloadVersion')} COLLATE "C")`;
      for (const property of ['payload', 'payloadVersion', ...mirroredColumns]) {
        set[property] = sql`CASE WHEN ${dataWins} THEN ${excluded(property)} ELSE ${column(property)} END`;
      }
      changes.push(sql`coalesce(${dataWins}, false)`);
    }
  } else {
    const mirrors = new Set<FieldMirror>();
    writes.forEach((write, index) => {
      const row = rows[index] as Record<string, unknown>;
      const fields = write.data ?? {};
      const key = versionKey(write.version);
      row[spec.document] = fields;
      row[spec.versions] = Object.fromEntries(Object.keys(fields).map((name) => [name, key]));
      for (const mirror of spec.mirrors) {
        if (!(mirror.field in fields)) continue;
        row[mirror.column] = mirror.convert(fields[mirror.field]);
        mirrors.add(mirror);
      }
    });
    if (writes.some((write) => Object.keys(write.data ?? {}).length > 0)) {
      const stored = column(spec.versions);
      const incoming = excluded(spec.versions);
      const fieldWins = (name: SQL): SQL =>
        sql`(coalesce(${stored} ->> ${name}, '') COLLATE "C") <= ((${incoming} ->> ${name}) COLLATE "C")`;
      const winning = (value: SQL): SQL =>
        sql`coalesce((SELECT jsonb_object_agg(e.key, ${value}) FROM jsonb_each(${excluded(spec.document)}) AS e WHERE ${fieldWins(sql`e.key`)}), '{}'::jsonb)`;
      set[spec.document] = sql`${column(spec.document)} || ${winning(sql`e.value`)}`;
      set[spec.versions] = sql`${stored} || ${winning(sql`${incoming} -> e.key`)}`;
      for (const mirror of mirrors) {
        set[mirror.column] =
          sql`CASE WHEN ${fieldWins(sql`CAST(${mirror.field} AS text)`)} THEN ${excluded(mirror.column)} ELSE ${column(mirror.column)} END`;
      }
      changes.push(
        sql`EXISTS (SELECT 1 FROM jsonb_each(${excluded(spec.document)}) AS e WHERE ${fieldWins(sql`e.key`)})`,
      );
    }
  }

  const keyProperties = ['ownerId', ...spec.key];
  const returned = Object.fromEntries(keyProperties.map((property) => [property, column(property)]));
  const written = await db
    .insert(spec.table)
    .values(rows as PgInsertValue<PgTable>[])
    .onConflictDoUpdate({
      target: keyProperties.map(column),
      set: set as never,
      setWhere: sql.join(changes, sql` OR `),
    })
    .returning({
      ...returned,
      eventId: column('sourceEventId'),
      live: sql<boolean>`(${column('deletedAt')} IS NULL)`,
    });
  return new Map(
    (written as Record<string, unknown>[]).map((row) => [
      JSON.stringify(keyProperties.map((property) => row[property])),
      { eventId: String(row.eventId), live: row.live === true },
    ]),
  );
}

// Values for mirrored columns: what a column cannot hold becomes null, never a failed statement
// (a value Postgres refuses would make the event fail on every retry).

export function textValue(value: unknown): string | null {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

const DECIMAL = /^-?\d{1,15}(\.\d{1,10})?$/;

/** A decimal as exact text (HubSpot sends "1000.50", Salesforce 50000 or "50000.0"). */
export function decimalValue(value: unknown, maxIntegerDigits = 15): string | null {
  const candidate = textValue(value)?.trim();
  if (!candidate || !DECIMAL.test(candidate)) return null;
  const integerDigits = candidate.replace(/^-/, '').split('.')[0]?.length ?? 0;
  return integerDigits <= maxIntegerDigits ? candidate : null;
}

export function integerValue(value: unknown): number | null {
  const number = typeof value === 'string' && /^-?\d{1,10}$/.test(value) ? Number(value) : value;
  return typeof number === 'number' && Number.isInteger(number) && Math.abs(number) <= 2_147_483_647
    ? number
    : null;
}

/** A calendar date (YYYY-MM-DD) that exists, else null. */
export function dateValue(value: unknown): string | null {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return null;
  const parsed = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().startsWith(value) ? value : null;
}

/** A provider id as exact text: strings as sent, integers only when a double holds them exactly. */
export function idValue(value: unknown): string | null {
  if (typeof value === 'string' && /^[0-9A-Za-z_:.-]{1,200}$/.test(value)) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return null;
}
