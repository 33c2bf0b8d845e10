#!/usr/bin/env node
import { buildApp } from '../lib/app';

const { stack, config, regionSource } = buildApp({
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
// On stderr, so that `cdk synth` still prints a clean template: which stack goes where, and why.
console.error(
  `${stack.stackName}: stage ${config.stage}, region ${stack.region} (from the ${regionSource === 'config' ? '"region" of the webhooks config' : 'AWS CLI\'s configuration; set "region" in the webhooks config to pin it'}), data ${config.removalPolicy === 'retain' ? 'retained' : 'destroyed'} on cdk destroy`,
);
