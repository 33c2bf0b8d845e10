/** Small readers of a synthesized CloudFormation template, shared by the infra tests. */

export type Json = Record<string, unknown>;

export interface CfnResource {
  Type: string;
  Properties?: Json;
  DependsOn?: string[];
}

/** The logical id a `Ref` or `Fn::GetAtt` points at. */
export function target(value: unknown): string {
  const ref = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  const id = ref.Ref ?? ref['Fn::GetAtt']?.[0];
  if (!id) throw new Error(`Not a reference: ${JSON.stringify(value)}`);
  return id;
}

export function actionsOf(statement: Json): string[] {
  const action = statement.Action as string | string[];
  return Array.isArray(action) ? action : [action];
}

export function resourcesOf(statement: Json): unknown[] {
  const resource = statement.Resource;
  return Array.isArray(resource) ? resource : [resource];
}
