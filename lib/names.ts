import { Stack, Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * The name of a resource whose names are unique per account rather than per region (CloudFront
 * policies and origin access controls, CloudWatch dashboards, AWS Chatbot channels):
 * `<stack>-<region>-<what>`. The stack name carries the stage, the region tells two regions' copies
 * of one stage apart. The region is always concrete (lib/app.ts requires one).
 */
export function globalName(scope: IConstruct, what: string, maxLength: number): string {
  const stack = Stack.of(scope);
  if (Token.isUnresolved(stack.region)) {
    throw new Error(`${scope.node.path}: an account-wide name needs the stack's region at synth`);
  }
  const name = `${stack.stackName}-${stack.region}-${what}`;
  // The stage is at most 24 characters (lib/config.ts), which keeps every name here within its limit.
  if (name.length > maxLength)
    throw new Error(`"${name}" is longer than the ${maxLength} characters allowed`);
  return name;
}
