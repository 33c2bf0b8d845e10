import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONFIG_CONTEXT_KEY, parseConfig, type WebhooksConfig, type WebhooksConfigInput } from './config';
import { WebhooksStack } from './webhooks-stack';

/** Each stage is a stack of its own: `Webhooks-prod`, `Webhooks-staging`... */
export function stackIdOf(stage: string): string {
  return `Webhooks-${stage}`;
}

export interface BuildAppOptions {
  /** Configuration to use instead of the `webhooks` context value (tests). */
  readonly config?: WebhooksConfigInput;
  readonly appProps?: AppProps;
  /**
   * The account and region the CDK CLI resolved (CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION). The
   * config's `region` wins over this one; the account may stay unknown (resolved at deploy).
   */
  readonly env?: { readonly account?: string; readonly region?: string };
}

export interface BuiltApp {
  readonly app: App;
  readonly stack: WebhooksStack;
  readonly config: WebhooksConfig;
  /** Where the region came from, for the line `cdk synth` prints. */
  readonly regionSource: 'config' | 'AWS CLI';
}

/** Builds the CDK app exactly as `cdk synth` does: the stage's stack plus the cdk-nag AwsSolutions checks. */
export function buildApp(options: BuildAppOptions = {}): BuiltApp {
  const app = new App(options.appProps);
  const config = parseConfig(options.config ?? app.node.tryGetContext(CONFIG_CONTEXT_KEY));
  const region = config.region ?? options.env?.region;
  if (!region) {
    // An environment-agnostic stack would deploy wherever the CLI points, us-east-1 when nothing
    // is set: the region is always explicit instead.
    throw new Error(
      `No region to deploy to: set "region" in the "${CONFIG_CONTEXT_KEY}" configuration, or AWS_REGION (or a profile region) for the AWS CLI.`,
    );
  }
  const stack = new WebhooksStack(app, stackIdOf(config.stage), {
    config,
    description:
      'Real-time webhook ingestion: verified provider webhooks -> SQS FIFO -> DynamoDB + Postgres -> WebSocket',
    env: { account: options.env?.account, region },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, config, regionSource: config.region ? 'config' : 'AWS CLI' };
}
