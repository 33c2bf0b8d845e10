/**
 * Every Lambda bundle built the way lib/constructs/house-function.ts has CDK build it (same esbuild
 * options: ESM, node22, minify, mainFields module/main, the createRequire banner, the credentials
 * alias, nothing external),
 * then its size and module init time: `import()` of the bundle in a fresh node process, as a cold
 * start does after the runtime is up, with a deployed function's environment (dummy values) and
 * NODE_OPTIONS=--enable-source-maps as deployed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';

import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { round } from './lib/stats';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Inside the repository (gitignored), so a bundle with external packages resolves them from node_modules. */
const BUILD_DIR = path.join(ROOT, 'bench', 'results');

/** Same text as house-function.ts's ESM_REQUIRE_BANNER. */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __houseCreateRequire } from 'module'; const require = __houseCreateRequire(import.meta.url);";

/** The functions of lib/constructs (entry relative to functions/). */
export const ENTRIES = [
  'ingest/shopify.ts',
  'ingest/hubspot.ts',
  'ingest/salesforce.ts',
  'process.ts',
  'api/management.ts',
  'ws/authorize.ts',
  'ws/connect.ts',
  'ws/disconnect.ts',
  'ws/message.ts',
  'migrate.ts',
] as const;

/** Lambda-like environment: what the constructs bind, with placeholder values (nothing is called at init). */
const LAMBDA_ENV: Record<string, string> = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  POWERTOOLS_SERVICE_NAME: 'bench',
  POWERTOOLS_METRICS_NAMESPACE: 'Webhooks',
  POWERTOOLS_LOG_LEVEL: 'WARN',
  WEBHOOK_BASE_URL: 'https://example.execute-api.us-east-1.amazonaws.com/prod',
  ...Object.fromEntries(
    ['HIGH', 'MEDIUM', 'LOW'].flatMap((p) => [
      [`QUEUE_URL_${p}`, `https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-${p}.fifo`],
      [`QUEUE_ARN_${p}`, `arn:aws:sqs:us-east-1:123456789012:webhooks-${p}.fifo`],
      [`DLQ_URL_${p}`, `https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-${p}-dlq.fifo`],
      [`DLQ_ARN_${p}`, `arn:aws:sqs:us-east-1:123456789012:webhooks-${p}-dlq.fifo`],
    ]),
  ),
  DLQ_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/webhooks-high-dlq.fifo',
  PAYLOAD_BUCKET: 'webhook-payloads',
  EVENT_LOG_TABLE: 'event-log',
  CONNECTIONS_TABLE: 'connections',
  METRICS_TABLE: 'metrics',
  CONFIGS_TABLE: 'configs',
  RATE_LIMIT_TABLE: 'rate-limits',
  REJECTIONS_TABLE: 'rejections',
  SECRETS_KEY_ID: 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000',
  EVENT_BUS_NAME: 'webhooks-domain-events',
  WEBSOCKET_ENDPOINT: 'https://example.execute-api.us-east-1.amazonaws.com/prod',
  DB_CLUSTER_ARN: 'arn:aws:rds:us-east-1:123456789012:cluster:webhooks',
  DB_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db',
  DB_NAME: 'webhooks',
  SHOPIFY_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:shopify',
  HUBSPOT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:hubspot',
  SALESFORCE_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:salesforce',
  SALESFORCE_ORG_ID: '00D5g000004XyZ1EAK',
  USER_POOL_ID: 'us-east-1_example',
  USER_POOL_CLIENT_ID: 'example',
  MAX_RECEIVE_COUNT: '5',
  AUTH_ISSUER: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example',
  AUTH_JWKS_URL: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example/.well-known/jwks.json',
  AUTH_AUDIENCE: 'example-client-id',
};

export interface BundleRow {
  entry: string;
  bytes: number;
  kib: number;
  /** Median module init (import) time over `runs` fresh processes, ms; null if the import failed. */
  initMs: number | null;
  initMsRuns: number[];
  initError?: string;
  /** Largest contributors to the output, by package (or `(project)` for this repository's code). */
  topPackages: { name: string; kib: number; share: number }[];
}

function packageOf(input: string): string {
  const at = input.lastIndexOf('node_modules/');
  if (at < 0) return '(project)';
  const parts = input.slice(at + 'node_modules/'.length).split('/');
  return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? input);
}

export function byPackage(metafile: Metafile, outputBytes: number): BundleRow['topPackages'] {
  const sizes = new Map<string, number>();
  for (const output of Object.values(metafile.outputs))
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs))
      sizes.set(packageOf(input), (sizes.get(packageOf(input)) ?? 0) + bytesInOutput);
  return [...sizes.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([name, bytes]) => ({ name, kib: round(bytes / 1024, 1), share: round(bytes / outputBytes, 3) }));
}

function timeImport(file: string): number {
  const script = `const t = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); process.stdout.write(String(performance.now() - t));`;
  const out = execFileSync(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...LAMBDA_ENV },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
  return Number(out);
}

/** The esbuild options HouseFunction's `bundling` block amounts to (CDK passes them as CLI flags). */
function houseOptions(entry: string, outfile: string, root = ROOT): BuildOptions & { metafile: true } {
  return {
    entryPoints: [path.join(root, 'functions', entry)],
    outfile,
    bundle: true,
    format: 'esm',
    target: 'node22',
    platform: 'node',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    alias: { '@aws-sdk/credential-provider-node': './shared/lambda-credentials.ts' },
    logLevel: 'warning',
    metafile: true,
    absWorkingDir: root,
  };
}

export interface BundleVariant {
  variant: string;
  kib: number;
  initMs: number | null;
}

/**
 * What-if builds of one bundle (the Shopify ingest function by default): the options that would
 * bring it toward the 150 KB target, each measured rather than guessed.
 */
export async function bundleVariants(options: { runs: number; entry?: string }): Promise<BundleVariant[]> {
  const entry = options.entry ?? 'ingest/shopify.ts';
  mkdirSync(BUILD_DIR, { recursive: true });
  const dir = mkdtempSync(path.join(BUILD_DIR, 'variants-'));
  const sdkExternal = ['@aws-sdk/*', '@smithy/*', '@aws-crypto/*'];
  const variants: [string, Partial<BuildOptions>][] = [
    ['as deployed (house-function.ts)', {}],
    ['AWS SDK v3 external (the Lambda runtime copy)', { external: sdkExternal }],
    ["without the credentials alias (the SDK's whole default chain)", { alias: {} }],
  ];
  const rows: BundleVariant[] = [];
  try {
    for (const [i, [variant, extra]] of variants.entries()) {
      const outfile = path.join(dir, String(i), 'index.mjs');
      await build({ ...houseOptions(entry, outfile), ...extra });
      const runs: number[] = [];
      // An external SDK cannot be imported outside Lambda unless node_modules resolves it: it does here
      // (the repository's node_modules), which stands in for /var/runtime/node_modules.
      for (let r = 0; r < options.runs; r++) {
        try {
          runs.push(timeImport(outfile));
        } catch {
          break;
        }
      }
      const sorted = runs.sort((a, b) => a - b);
      rows.push({
        variant,
        kib: round(statSync(outfile).size / 1024, 1),
        initMs: sorted.length ? round(sorted[Math.floor(sorted.length / 2)] ?? 0, 1) : null,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/**
 * Every bundle's size and init time, for each checkout in `roots` (this one when empty; another,
 * say the main branch's, gives the figures before a change). The init runs of the checkouts
 * alternate, bundle by bundle, so that the machine's load weighs on each alike.
 */
export async function benchBundles(options: { runs: number; roots?: string[] }): Promise<BundleRow[][]> {
  const roots = options.roots?.length ? options.roots : [ROOT];
  mkdirSync(BUILD_DIR, { recursive: true });
  const dir = mkdtempSync(path.join(BUILD_DIR, 'bundles-'));
  const rows: BundleRow[][] = roots.map(() => []);
  try {
    for (const entry of ENTRIES) {
      const builds = await Promise.all(
        roots.map(async (root, r) => {
          const outfile = path.join(dir, String(r), entry.replace(/\.ts$/, ''), 'index.mjs');
          const { metafile } = await build(houseOptions(entry, outfile, root));
          return { outfile, metafile, runs: [] as number[], initError: undefined as string | undefined };
        }),
      );
      for (let i = 0; i < options.runs; i++)
        for (const built of builds) {
          if (built.initError) continue;
          try {
            built.runs.push(timeImport(built.outfile));
          } catch (error) {
            const stderr = String((error as { stderr?: string }).stderr ?? error);
            built.initError = stderr.split('\n').find((line) => /Error/.test(line)) ?? stderr.slice(0, 200);
          }
        }
      builds.forEach(({ outfile, metafile, runs, initError }, r) => {
        const bytes = statSync(outfile).size;
        const sorted = [...runs].sort((a, b) => a - b);
        rows[r]?.push({
          entry,
          bytes,
          kib: round(bytes / 1024, 1),
          initMs: sorted.length ? round(sorted[Math.floor(sorted.length / 2)] ?? 0, 1) : null,
          initMsRuns: runs.map((run) => round(run, 1)),
          ...(initError ? { initError } : {}),
          topPackages: byPackage(metafile, bytes).slice(0, 12),
        });
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
