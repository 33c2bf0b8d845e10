import { Stack } from 'aws-cdk-lib';
// The same flattening cdk-nag's IAM5 rule applies to a resource, so acknowledgments match exactly.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';

/**
 * The id of the cdk-nag finding a wildcard resource ARN raises, e.g.
 * `AwsSolutions-IAM5[Resource::<Table.Arn>/index/*]`, for a finding-scoped acknowledgment.
 */
export function wildcardResourceFinding(scope: IConstruct, arn: string): string {
  return `AwsSolutions-IAM5[Resource::${flattenCfnReference(Stack.of(scope).resolve(arn))}]`;
}

/** The id of the cdk-nag finding an AWS managed policy raises, e.g. for AWSLambdaBasicExecutionRole. */
export function managedPolicyFinding(policyPath: string): string {
  return `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${policyPath}]`;
}
