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

/**
 * The readers every infra test uses, over one synthesized stack: `resources()` and `stack()` are
 * read at call time, so a file can create the reader at load and synthesize in `beforeAll`.
 */
export function templateReader(
  resources: () => Record<string, CfnResource>,
  stack: () => { getLogicalId(element: never): string },
) {
  const ofType = (type: string): [string, CfnResource][] =>
    Object.entries(resources()).filter(([, resource]) => resource.Type === type);
  const props = (logicalId: string): Json => {
    const resource = resources()[logicalId];
    if (!resource) throw new Error(`No resource ${logicalId}`);
    return resource.Properties ?? {};
  };
  const env = (functionId: string): Json =>
    ((props(functionId).Environment as Json | undefined)?.Variables ?? {}) as Json;
  return {
    ofType,
    props,
    env,
    /** The logical id of a construct's CloudFormation resource. */
    logicalId: (construct: { node: { defaultChild?: unknown } }): string =>
      stack().getLogicalId(construct.node.defaultChild as never),
    /** The one function whose POWERTOOLS_SERVICE_NAME is `service`. */
    functionOf: (service: string): string => {
      const ids = ofType('AWS::Lambda::Function')
        .filter(([id]) => env(id).POWERTOOLS_SERVICE_NAME === service)
        .map(([id]) => id);
      if (ids.length !== 1) throw new Error(`Expected exactly one ${service} function, found ${ids.length}`);
      return ids[0] as string;
    },
    /** Statements of every policy attached to the role of a function. */
    statementsOf: (functionId: string): Json[] => {
      const roleId = target(props(functionId).Role);
      return ofType('AWS::IAM::Policy')
        .filter(([id]) => (props(id).Roles as unknown[]).some((role) => target(role) === roleId))
        .flatMap(([id]) => (props(id).PolicyDocument as { Statement: Json[] }).Statement);
    },
  };
}
