import { Validations } from 'aws-cdk-lib';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { managedPolicyFinding, wildcardResourceFinding } from '../nag';
import type { FunctionDefaults, HouseFunction } from './house-function';

/**
 * The custom-resource provider (`id`, its log group `${id}Logs`) that runs one of our functions at
 * deploy time, with cdk-nag's findings on the framework function aws-cdk-lib writes acknowledged
 * where they arise. `what` names the function in the reasons ("the migrate function").
 */
export function deployTimeProvider(
  scope: Construct,
  id: string,
  fn: HouseFunction,
  defaults: FunctionDefaults,
  what: string,
): Provider {
  const provider = new Provider(scope, id, {
    onEventHandler: fn,
    logGroup: new LogGroup(scope, `${id}Logs`, {
      retention: defaults.logRetention,
      removalPolicy: defaults.logRemovalPolicy,
    }),
  });
  const framework = provider.node.findChild('framework-onEvent');
  Validations.of(framework).acknowledge({
    id: managedPolicyFinding('service-role/AWSLambdaBasicExecutionRole'),
    reason: `The custom-resource framework function and its role are created by aws-cdk-lib (custom_resources.Provider); it only writes its own logs and invokes ${what}.`,
  });
  Validations.of(framework).acknowledge({
    id: wildcardResourceFinding(scope, `${fn.functionArn}:*`),
    reason: `Written by custom_resources.Provider: the framework may invoke any version or alias of ${what}, and nothing else.`,
  });
  return provider;
}
