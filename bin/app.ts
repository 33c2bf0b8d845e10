#!/usr/bin/env node
import { buildApp } from '../lib/app';

try {
  const { stack, config, regionSource } = buildApp({
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  // On stderr, so that `cdk synth` still prints a clean template: which stack goes where, and why.
  const from =
    regionSource === 'config'
      ? 'the "region" of the webhooks config'
      : 'the AWS CLI\'s configuration; set "region" in the webhooks config to pin it';
  console.error(
    `${stack.stackName}: stage ${config.stage}, region ${stack.region} (from ${from}), data ${config.removalPolicy === 'retain' ? 'retained' : 'destroyed'} on cdk destroy`,
  );
} catch (error) {
  // A configuration mistake: its message names the key; a stack trace would only bury it.
  console.error((error as Error).message);
  process.exit(1);
}
