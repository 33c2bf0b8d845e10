#!/usr/bin/env node
import { buildApp } from '../lib/app';

const account = process.env.CDK_DEFAULT_ACCOUNT;
const region = process.env.CDK_DEFAULT_REGION;

buildApp({ env: account || region ? { account, region } : undefined });
