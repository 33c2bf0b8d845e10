import { CfnResource, type RemovalPolicy, type Stack } from 'aws-cdk-lib';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';

/**
 * aws-cdk-lib's singleton custom-resource providers (S3 auto-delete, for one) are functions with no
 * log group option: Lambda would create `/aws/lambda/<name>` at their first run, with no retention,
 * and leave it behind on `cdk destroy`. Each one found in the stack logs to a group of the stack's
 * instead (Lambda's LoggingConfig takes a group by name).
 */
export function giveProviderLogGroups(
  stack: Stack,
  retention: RetentionDays,
  removalPolicy: RemovalPolicy,
): void {
  for (const provider of stack.node.children) {
    if (!provider.node.id.endsWith('CustomResourceProvider')) continue;
    const handler = provider.node.tryFindChild('Handler');
    if (!(handler instanceof CfnResource) || handler.cfnResourceType !== 'AWS::Lambda::Function') continue;
    const logGroup = new LogGroup(stack, `${provider.node.id.replace(/\W/g, '')}Logs`, {
      retention,
      removalPolicy,
    });
    handler.addPropertyOverride('LoggingConfig', { LogGroup: logGroup.logGroupName });
  }
}
