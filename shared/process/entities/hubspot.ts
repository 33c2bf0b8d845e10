import { syncedAssociations, syncedCompanies, syncedContacts, syncedDeals } from '../../db/schema';
import type { Envelope } from '../../envelope';
import { isJsonObject } from '../../json';
import {
  decimalValue,
  type EntityHandler,
  type FieldMirror,
  type FieldsSpec,
  idValue,
  type SnapshotSpec,
  type SyncedWriter,
  textValue,
  versionOf,
} from './upsert';

/**
 * HubSpot sends one property per event (`propertyName`/`propertyValue`), so records are merged
 * property by property: `properties` holds each property's newest value and `property_versions`
 * its version. Rows are keyed by portal and id: object ids are unique per portal only.
 */
function objectSpec(table: FieldsSpec['table'], mirrors: readonly FieldMirror[]): FieldsSpec {
  return {
    kind: 'fields',
    table,
    key: ['portalId', 'id'],
    document: 'properties',
    versions: 'propertyVersions',
    mirrors,
  };
}

const contacts = objectSpec(syncedContacts, [
  { column: 'email', field: 'email', convert: textValue },
  { column: 'firstName', field: 'firstname', convert: textValue },
  { column: 'lastName', field: 'lastname', convert: textValue },
]);

const companies = objectSpec(syncedCompanies, [
  { column: 'name', field: 'name', convert: textValue },
  { column: 'domain', field: 'domain', convert: textValue },
]);

const deals = objectSpec(syncedDeals, [
  { column: 'dealName', field: 'dealname', convert: textValue },
  { column: 'dealStage', field: 'dealstage', convert: textValue },
  { column: 'amount', field: 'amount', convert: (value) => decimalValue(value) },
  { column: 'pipeline', field: 'pipeline', convert: textValue },
]);

const associations: SnapshotSpec = {
  kind: 'snapshot',
  table: syncedAssociations,
  key: ['portalId', 'associationType', 'fromObjectId', 'toObjectId'],
  mirror: () => ({}),
};

/** The HubSpot actions with a meaning for a record; any other is not applied (the processor ignores it). */
const ACTIONS = new Set([
  'creation',
  'propertyChange',
  'stageChange',
  'deletion',
  'privacyDeletion',
  'restore',
  'merge',
  'associationChange',
]);

function actionOf(envelope: Envelope): string {
  return envelope.eventType.slice(envelope.eventType.indexOf('.') + 1);
}

export function acceptsHubSpotEvent(envelope: Envelope): boolean {
  return ACTIONS.has(actionOf(envelope));
}

function handler(spec: FieldsSpec): EntityHandler {
  return (writer, envelope) => {
    const event = isJsonObject(envelope.payload) ? envelope.payload : {};
    switch (actionOf(envelope)) {
      case 'merge':
        return merge(writer, spec, envelope, event);
      case 'associationChange':
        return associate(writer, envelope, event);
      default:
        return upsertObject(writer, spec, envelope, event);
    }
  };
}

function upsertObject(
  writer: SyncedWriter,
  spec: FieldsSpec,
  envelope: Envelope,
  event: Record<string, unknown>,
): Promise<boolean> {
  const action = actionOf(envelope);
  return writer.upsert(spec, {
    key: { portalId: envelope.meta.portalId ?? '', id: envelope.objectId },
    ownerId: envelope.ownerId,
    version: versionOf(envelope),
    eventType: envelope.eventType,
    deleted: action === 'deletion' || action === 'privacyDeletion',
    data: propertiesOf(envelope, event),
  });
}

/** The property this event changed, plus any `properties` map it carries (creation events rarely do). */
function propertiesOf(envelope: Envelope, event: Record<string, unknown>): Record<string, unknown> {
  const properties: Record<string, unknown> = isJsonObject(event.properties) ? { ...event.properties } : {};
  const name = envelope.meta.propertyName ?? textValue(event.propertyName);
  if (name) properties[name] = event.propertyValue ?? null;
  return properties;
}

/**
 * `*.merge`: the surviving record is upserted, and every other record of the merge is tombstoned
 * with `merged_into` = the survivor, each with the merge event's version (monotonic per row).
 */
async function merge(
  writer: SyncedWriter,
  spec: FieldsSpec,
  envelope: Envelope,
  event: Record<string, unknown>,
): Promise<boolean> {
  const survivor = idValue(event.newObjectId) ?? envelope.objectId;
  const merged = Array.isArray(event.mergedObjectIds) ? event.mergedObjectIds : [];
  const losers = new Set(
    [...merged, event.primaryObjectId, envelope.objectId]
      .map(idValue)
      .filter((id): id is string => id !== null && id !== survivor),
  );
  const portalId = envelope.meta.portalId ?? '';
  const version = versionOf(envelope);
  // Issued together: in a batch they go in one statement (the rows are distinct).
  const written = await Promise.all([
    writer.upsert(spec, {
      ownerId: envelope.ownerId,
      key: { portalId, id: survivor },
      version,
      eventType: envelope.eventType,
      deleted: false,
      data: propertiesOf(envelope, event),
    }),
    ...[...losers].map((id) =>
      writer.upsert(spec, {
        ownerId: envelope.ownerId,
        key: { portalId, id },
        version,
        eventType: envelope.eventType,
        deleted: true,
        mergedInto: survivor,
      }),
    ),
  ]);
  return written.some(Boolean);
}

/** `*.associationChange`: one synced_associations row per (type, from, to); a removal tombstones it. */
function associate(
  writer: SyncedWriter,
  envelope: Envelope,
  event: Record<string, unknown>,
): Promise<boolean> {
  const from = idValue(event.fromObjectId);
  const to = idValue(event.toObjectId);
  const type =
    textValue(event.associationType) ??
    (event.associationTypeId === undefined
      ? null
      : `${textValue(event.associationCategory) ?? 'HUBSPOT_DEFINED'}:${textValue(event.associationTypeId)}`);
  // Nothing identifies the association: there is nothing to record.
  if (!from || !to || !type) return Promise.resolve(false);
  const removed = event.associationRemoved === true;
  return writer.upsert(associations, {
    key: {
      portalId: envelope.meta.portalId ?? '',
      associationType: type,
      fromObjectId: from,
      toObjectId: to,
    },
    ownerId: envelope.ownerId,
    version: versionOf(envelope),
    eventType: envelope.eventType,
    deleted: removed,
    data: removed ? undefined : event,
  });
}

export const hubspotHandlers: Record<string, EntityHandler> = {
  contact: handler(contacts),
  company: handler(companies),
  deal: handler(deals),
};
