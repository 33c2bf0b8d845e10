import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type BuiltApp, buildApp } from '../../lib/app';
import type { WebhooksConfigInput } from '../../lib/config';
import { REPO_ROOT } from '../../lib/paths';

/** The region the infra tests synthesize for, as the CDK CLI would pass it. */
export const TEST_REGION = 'eu-west-1';

export interface SynthFixture extends BuiltApp {
  readonly outdir: string;
  /** Removes the cloud assembly (bundles included). */
  readonly cleanup: () => void;
}

/**
 * Builds the app as `cdk synth` does: the feature flags of cdk.json, the cdk-nag plugin, and (by
 * default) every function bundled by the local esbuild. That takes seconds: build once per test file.
 */
export function buildTestApp(
  config: WebhooksConfigInput = {},
  options: {
    /** Bundle every function with esbuild (on in `cdk synth`); off, assets are placeholders. */
    readonly bundling?: boolean;
    /** The account and region `cdk synth` takes from CDK_DEFAULT_*; by default region TEST_REGION, account unknown. */
    readonly env?: { readonly account?: string; readonly region?: string };
  } = {},
): SynthFixture {
  const cdkJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  const outdir = mkdtempSync(path.join(tmpdir(), 'webhooks-cdk-'));
  const cleanup = () => rmSync(outdir, { recursive: true, force: true });
  try {
    const built = buildApp({
      config,
      env: options.env ?? { region: TEST_REGION },
      appProps: {
        outdir,
        context: { ...cdkJson.context, ...(options.bundling === false && { 'aws:cdk:bundling-stacks': [] }) },
        // CDK's template schema validation stays on, as in `cdk synth`.
        builtinCloudFormationValidation: true,
      },
    });
    return { ...built, outdir, cleanup };
  } catch (error) {
    cleanup();
    throw error;
  }
}
