import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { VALIDATION_REPORT_FILE } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { buildTestApp, type SynthFixture } from './fixture';

interface ValidationReport {
  pluginReports: {
    pluginName: string;
    violations: { ruleName: string; severity: string; violatingConstructs: { constructPath: string }[] }[];
  }[];
}

/** One line per unacknowledged finding of any validation plugin, errors and warnings alike. */
function findingsIn(report: ValidationReport): string[] {
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations.flatMap((violation) =>
      violation.violatingConstructs.map(
        (c) => `${plugin.pluginName} ${violation.severity} ${violation.ruleName} at ${c.constructPath}`,
      ),
    ),
  );
}

/** The AwsSolutions acknowledgments recorded anywhere in the tree (CDK records some of its own). */
function acknowledgmentsUnder(
  root: IConstruct,
): { path: string; id: string; reason: string; scope: IConstruct }[] {
  return root.node.findAll().flatMap((scope) =>
    scope.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>)
          .filter(([id]) => id.includes('AwsSolutions-'))
          .map(([id, reason]) => ({ path: scope.node.path, id, reason, scope })),
      ),
  );
}

let fixture: SynthFixture;

beforeAll(() => {
  // Everything `cdk synth` does except esbuild, which only fills asset contents (no resource, no
  // property cdk-nag reads); stack.test.ts synthesizes with the real bundles.
  fixture = buildTestApp({}, { bundling: false });
});

afterAll(() => fixture?.cleanup());

describe('cdk-nag AwsSolutions', () => {
  it('synthesizes with no unacknowledged finding, error or warning', () => {
    const assembly = fixture.app.synth();
    const report = JSON.parse(
      readFileSync(path.join(assembly.directory, VALIDATION_REPORT_FILE), 'utf8'),
    ) as ValidationReport;
    expect(findingsIn(report)).toEqual([]);
  });

  it('finds nothing unacknowledged when the pack walks the tree directly', () => {
    const result = new AwsSolutionsChecks().validateScope(fixture.app);
    const findings = result.violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`),
    );
    expect(findings).toEqual([]);
    expect(result.success).toBe(true);
  });

  it('scopes every acknowledgment to one resource below the stack and gives a reason', () => {
    const acknowledgments = acknowledgmentsUnder(fixture.app);
    expect(acknowledgments.length).toBeGreaterThan(0);
    for (const { path: at, id, reason, scope } of acknowledgments) {
      expect(App.isApp(scope) || Stack.isStack(scope), `${id} acknowledged on ${at}`).toBe(false);
      expect(reason.length, `reason of ${id} on ${at}`).toBeGreaterThanOrEqual(40);
    }
  });

  it('stays clean with tracing on, data destroyed, no CloudWatch role, an IP block list and one provider', () => {
    // Exercises the acknowledgments that depend on configuration; bundling is skipped (it adds no resource).
    const variant = buildTestApp(
      {
        removalPolicy: 'destroy',
        providers: ['salesforce'],
        lambda: { tracing: true },
        api: { tracing: true, createCloudWatchRole: false },
        waf: { blockedCidrs: ['203.0.113.0/24', '2001:db8::/32'] },
        database: { minCapacity: 0, autoPauseMinutes: 10, deletionProtection: false },
      },
      { bundling: false },
    );
    onTestFinished(variant.cleanup);
    const result = new AwsSolutionsChecks().validateScope(variant.app);
    expect(result.violations.map((v) => v.ruleName)).toEqual([]);
  });

  it('stays clean in a concrete account and region, as `cdk synth` with a default region', () => {
    // ARNs then name the region literally (the CDK asset bucket's, for one), not <AWS::Region>.
    const located = buildTestApp(
      {},
      {
        bundling: false,
        env: { account: '123456789012', region: 'us-east-1' },
      },
    );
    onTestFinished(located.cleanup);
    const result = new AwsSolutionsChecks().validateScope(located.app);
    expect(result.violations.map((v) => v.ruleName)).toEqual([]);
  });

  it('fails synthesis on a finding nobody acknowledged (the pack is registered)', () => {
    // A queue without DLQ or TLS policy: must be reported by the plugin buildApp registered.
    new sqs.Queue(fixture.stack, 'NagProbe', { encryption: sqs.QueueEncryption.SQS_MANAGED });
    expect(() => fixture.app.synth({ force: true })).toThrow(/AwsSolutions-SQS3[\s\S]*NagProbe/);
  });
});
