import { syncedAccounts, syncedCases, syncedLeads, syncedOpportunities, syncedTasks } from '../../db/schema';
import type { Envelope } from '../../envelope';
import { isJsonObject } from '../../json';
import {
  dateValue,
  decimalValue,
  type EntityHandler,
  type FieldMirror,
  type FieldsSpec,
  textValue,
  versionOf,
} from './upsert';

/**
 * Salesforce change events carry only the fields that changed, so records are merged field by
 * field: `payload` holds each field's newest value and `field_versions` its version. Ids are kept
 * exactly as sent (18 characters from CDC and Outbound Messages, whatever our users send otherwise).
 */
function recordSpec(table: FieldsSpec['table'], mirrors: readonly FieldMirror[]): FieldsSpec {
  return { kind: 'fields', table, key: ['id'], document: 'payload', versions: 'fieldVersions', mirrors };
}

const text = (column: string, field: string): FieldMirror => ({ column, field, convert: textValue });

const opportunities = recordSpec(syncedOpportunities, [
  text('name', 'Name'),
  text('stageName', 'StageName'),
  { column: 'amount', field: 'Amount', convert: (value) => decimalValue(value) },
  { column: 'closeDate', field: 'CloseDate', convert: dateValue },
]);
const leads = recordSpec(syncedLeads, [
  text('status', 'Status'),
  text('company', 'Company'),
  text('email', 'Email'),
]);
const accounts = recordSpec(syncedAccounts, [text('name', 'Name'), text('industry', 'Industry')]);
const tasks = recordSpec(syncedTasks, [
  text('subject', 'Subject'),
  text('status', 'Status'),
  text('priority', 'Priority'),
]);
const cases = recordSpec(syncedCases, [
  text('subject', 'Subject'),
  text('status', 'Status'),
  text('priority', 'Priority'),
]);

/** CDC change types; GAP_* ones say "this record changed, the data is not here". */
const CHANGE_TYPES = new Set(['CREATE', 'UPDATE', 'DELETE', 'UNDELETE']);

function changeTypeOf(envelope: Envelope): string {
  return envelope.meta.changeType ?? 'UPDATE';
}

export function acceptsSalesforceEvent(envelope: Envelope): boolean {
  const changeType = changeTypeOf(envelope);
  return CHANGE_TYPES.has(changeType) || changeType.startsWith('GAP_');
}

function handler(spec: FieldsSpec): EntityHandler {
  return (writer, envelope) => {
    const changeType = changeTypeOf(envelope);
    const gap = changeType.startsWith('GAP_') || envelope.meta.refetch === 'true';
    const kind = changeType.startsWith('GAP_') ? changeType.slice('GAP_'.length) : changeType;
    const { fields, incomplete } = gap ? { fields: undefined, incomplete: true } : changedFields(envelope);
    return writer.upsert(spec, {
      key: { id: envelope.objectId },
      ownerId: envelope.ownerId,
      version: versionOf(envelope),
      eventType: envelope.eventType,
      deleted: kind === 'DELETE',
      needsRefetch: incomplete,
      data: kind === 'DELETE' ? undefined : fields,
    });
  };
}

interface Changes {
  fields: Record<string, unknown>;
  /** Some changed values are not in the event (diff-encoded large text fields): re-fetch the record. */
  incomplete: boolean;
}

/**
 * The fields an event sets, by API name. CDC events carry them next to `ChangeEventHeader` (bare, or
 * wrapped in `payload` / `detail.payload`); our users' simplified shape under `data`; Outbound
 * Messages as the sObject's fields. Compound fields (Name, *Address) are flattened to their
 * component fields (FirstName, BillingCity), as the REST API names them, so a change of one
 * component does not erase the others.
 */
export function changedFields(envelope: Envelope): Changes {
  const payload = envelope.payload;
  if (envelope.meta.source === 'outbound-message') {
    return { fields: flatten(isJsonObject(payload) ? payload : {}, outboundValue), incomplete: false };
  }
  const changeEvent = [payload, field(payload, 'payload'), field(field(payload, 'detail'), 'payload')].find(
    (candidate) => isJsonObject(field(candidate, 'ChangeEventHeader')),
  );
  if (!isJsonObject(changeEvent)) {
    const data = field(payload, 'data');
    return { fields: flatten(isJsonObject(data) ? data : {}, (value) => value), incomplete: false };
  }
  const header = field(changeEvent, 'ChangeEventHeader');
  const { ChangeEventHeader: _header, ...body } = changeEvent;
  const all = flatten(body, (value) => value);
  const changeType = changeTypeOf(envelope);
  const fields: Record<string, unknown> = {};
  if (changeType === 'UPDATE' && names(header, 'changedFields').length > 0) {
    // Decoded events carry every field, null when unchanged: only the listed ones are changes.
    const changed = new Set(names(header, 'changedFields').map(componentName));
    for (const [name, value] of Object.entries(all)) {
      if (changed.has(name) || changed.has(parentOf(body, name))) fields[name] = value;
    }
  } else {
    // CREATE / UNDELETE carry every field that has a value; null means "not set".
    for (const [name, value] of Object.entries(all)) {
      if (value !== null || changeType === 'UPDATE') fields[name] = value;
    }
  }
  for (const name of names(header, 'nulledFields')) fields[componentName(name)] = null;
  const diffs = names(header, 'diffFields').map(componentName);
  for (const name of diffs) delete fields[name];
  return { fields, incomplete: diffs.length > 0 };
}

const COMPOUND = /^(Name|.*Address)$/;

function flatten(
  body: Record<string, unknown>,
  convert: (value: unknown) => unknown,
): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) {
    if (name.startsWith('@_')) continue;
    if (COMPOUND.test(name) && isJsonObject(value) && !isNil(value)) {
      for (const [part, partValue] of Object.entries(value)) {
        if (!part.startsWith('@_')) fields[componentName(`${name}.${part}`)] = convert(partValue);
      }
    } else {
      fields[name] = convert(value);
    }
  }
  return fields;
}

/** `Name.FirstName` -> `FirstName`; `BillingAddress.City` -> `BillingCity`; others unchanged. */
function componentName(name: string): string {
  const dot = name.indexOf('.');
  if (dot < 0) return name;
  const parent = name.slice(0, dot);
  const part = name.slice(dot + 1);
  return parent === 'Name' ? part : `${parent.replace(/Address$/, '')}${part}`;
}

/** The compound field a flattened component came from, or '' when it is not a component. */
function parentOf(body: Record<string, unknown>, name: string): string {
  for (const [parent, value] of Object.entries(body)) {
    if (!COMPOUND.test(parent) || !isJsonObject(value)) continue;
    if (Object.keys(value).some((part) => componentName(`${parent}.${part}`) === name)) return parent;
  }
  return '';
}

/** Outbound Message values are text; `<sf:Field xsi:nil="true"/>` is null. */
function outboundValue(value: unknown): unknown {
  return isNil(value) ? null : value;
}

function isNil(value: unknown): boolean {
  return isJsonObject(value) && Object.keys(value).every((key) => key.startsWith('@_'));
}

function names(header: unknown, key: string): string[] {
  const list = field(header, key);
  return Array.isArray(list) ? list.filter((name): name is string => typeof name === 'string') : [];
}

function field(value: unknown, name: string): unknown {
  return isJsonObject(value) ? value[name] : undefined;
}

export const salesforceHandlers: Record<string, EntityHandler> = {
  opportunity: handler(opportunities),
  lead: handler(leads),
  account: handler(accounts),
  task: handler(tasks),
  case: handler(cases),
};
