import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONFIG_CONTEXT_KEY, parseConfig, type WebhooksConfig, type WebhooksConfigInput } from './config';
import { WebhooksStack } from './webhooks-stack';

export const STACK_ID = 'WebhooksStack';

export interface BuildAppOptions {
  /** Configuration to use instead of the `webhooks` context value (tests). */
  readonly config?: WebhooksConfigInput;
  readonly appProps?: AppProps;
  /** Deployment target; left undefined the stack is environment-agnostic. */
  readonly env?: { readonly account?: string; readonly region?: string };
}

export interface BuiltApp {
  readonly app: App;
  readonly stack: WebhooksStack;
  readonly config: WebhooksConfig;
}

/** Builds the CDK app exactly as `cdk synth` does: the one stack plus the cdk-nag AwsSolutions checks. */
export function buildApp(options: BuildAppOptions = {}): BuiltApp {
  const app = new App(options.appProps);
  const config = parseConfig(options.config ?? app.node.tryGetContext(CONFIG_CONTEXT_KEY));
  const stack = new WebhooksStack(app, STACK_ID, {
    config,
    description:
      'Real-time webhook ingestion: verified provider webhooks -> SQS FIFO -> DynamoDB + Postgres -> WebSocket',
    ...(options.env && { env: options.env }),
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack, config };
}
