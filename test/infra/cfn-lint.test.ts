import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import type { WebhooksConfigInput } from '../../lib/config';
import { ALL_OPTIONS } from './all-options';
import { buildTestApp, type SynthFixture, TEST_REGION } from './fixture';

/**
 * CloudFormation's own linter over the synthesized templates (CDK's schema validation is on in
 * the synth too). cfn-lint is a Python tool: installed on the development and CI machines
 * (`cfn-lint --version`); this test fails, rather than skips, without it.
 */
const run = promisify(execFile);

/** Findings that are not problems of ours, each with the reason it is ignored. */
const KNOWN_FINDINGS: Readonly<Record<string, string>> = {
  W3005:
    "aws-cdk-lib adds DependsOn on a function's role default policy next to the GetAtt of the role itself: redundant, not wrong, and not ours to remove.",
};

interface Finding {
  Rule: { Id: string };
  Level: 'Error' | 'Warning' | 'Informational';
  Message: string;
  Location: { Path: (string | number)[] };
}

const fixtures: SynthFixture[] = [];
afterAll(() => {
  for (const fixture of fixtures) fixture.cleanup();
});

/** Synthesizes like `cdk synth`: the template file the CLI would deploy. */
function synthTemplate(config: WebhooksConfigInput): string {
  const fixture = buildTestApp(config, { bundling: false });
  fixtures.push(fixture);
  const artifact = fixture.app.synth().getStackByName(fixture.stack.stackName);
  return path.join(fixture.outdir, artifact.templateFile);
}

/** cfn-lint's findings on a template file, with the resource checks of the stack's region. */
async function lint(file: string, region: string): Promise<Finding[]> {
  // Exit codes carry the levels found (2 errors, 4 warnings, 8 informational): the JSON decides.
  const output = await run('cfn-lint', ['--format', 'json', '--regions', region, '--', file], {
    maxBuffer: 64 * 1024 * 1024,
  }).catch((error: { code?: unknown; stdout?: string; message: string }) => {
    if (typeof error.code !== 'number')
      throw new Error(`cfn-lint could not run (is it installed?): ${error.message}`);
    return { stdout: error.stdout ?? '' };
  });
  return JSON.parse(output.stdout) as Finding[];
}

const unexpected = (findings: Finding[]) =>
  findings
    .filter((finding) => finding.Level !== 'Informational' && !(finding.Rule.Id in KNOWN_FINDINGS))
    .map((finding) => `${finding.Rule.Id} ${finding.Location.Path.join('/')}: ${finding.Message}`);

describe('cfn-lint', () => {
  it.each<[string, WebhooksConfigInput]>([
    ['the default configuration', {}],
    ['every option turned on', ALL_OPTIONS],
  ])(
    'finds no error or unknown warning in the template of %s',
    async (_, config) => {
      expect(unexpected(await lint(synthTemplate(config), config.region ?? TEST_REGION))).toEqual([]);
    },
    180_000,
  );

  it('reports what it is there to catch (a WAF description with parentheses)', async () => {
    const file = synthTemplate({});
    const template = JSON.parse(readFileSync(file, 'utf8'));
    template.Resources.Broken = {
      Type: 'AWS::WAFv2::IPSet',
      Properties: {
        Description: 'Blocked (test)',
        Scope: 'REGIONAL',
        IPAddressVersion: 'IPV4',
        Addresses: [],
      },
    };
    writeFileSync(file, JSON.stringify(template));
    expect(unexpected(await lint(file, TEST_REGION))).toEqual([
      expect.stringMatching(/^E3031 Resources\/Broken/),
    ]);
  }, 180_000);
});
