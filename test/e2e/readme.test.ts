/**
 * The README works as written: `npm start` as a user runs it, then every shell block marked
 * `<!-- doc-test -->` run by bash against it, each command required to succeed (`set -e`) and each
 * documented answer (`# -> ...` lines) required in what the block prints, background jobs included.
 * The only changes to a block are the ports: the stack listens on free ones (see PORTS below).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/paths';

/** The README's fixed addresses, replaced by the running stack's. */
const PORTS = { http: 'localhost:3000', ws: 'localhost:8080', postgres: '127.0.0.1:5434', receiver: '4000' };

/** The example's workflow file; one a developer keeps in the checkout is put back afterwards. */
const WORKFLOWS_FILE = path.join(REPO_ROOT, 'workflows.local.json');
const KEPT_WORKFLOWS_FILE = `${WORKFLOWS_FILE}.doc-test-kept`;

interface DocBlock {
  /** 1-based line of the block's first command in README.md. */
  line: number;
  script: string;
  /** The documented answers (`# -> ...` lines). */
  expected: string[];
}

/**
 * The marked blocks of a Markdown text: a `<!-- doc-test -->` line right before a ```bash fence, at
 * any indentation (blocks inside list items). `# -> answer` lines document what the block prints:
 * `...` stands for anything on the line, `<placeholder>` for a non-empty value.
 */
function docBlocks(markdown: string): DocBlock[] {
  const blocks: DocBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const marker = /^( *)<!-- doc-test -->$/.exec(lines[i] as string);
    if (!marker || lines[i + 1] !== `${marker[1]}\`\`\`bash`) continue;
    const indent = (marker[1] as string).length;
    const body: string[] = [];
    let j = i + 2;
    for (; j < lines.length && (lines[j] as string).trim() !== '```'; j++)
      body.push((lines[j] as string).slice(indent));
    if (j === lines.length) throw new Error(`README.md:${i + 1}: unterminated doc-test block`);
    blocks.push({
      line: i + 3,
      script: body.join('\n'),
      expected: body
        .map((line) => /^\s*# -> (.*)$/.exec(line)?.[1])
        .filter((text): text is string => text !== undefined),
    });
    i = j;
  }
  return blocks;
}

function answerPattern(text: string): RegExp {
  const parts = text.split(/(\.\.\.|<[^<>]+>)/);
  const source = parts
    .map((part) =>
      part === '...'
        ? '.*?'
        : /^<[^<>]+>$/.test(part)
          ? '[^"\\s]+'
          : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(source);
}

let stack: ChildProcess | undefined;
let startOutput = '';
let addresses: typeof PORTS;

function substitute(text: string): string {
  return text
    .replaceAll(PORTS.http, addresses.http)
    .replaceAll(PORTS.ws, addresses.ws)
    .replaceAll(PORTS.postgres, addresses.postgres)
    .replaceAll(`localhost:${PORTS.receiver}`, `localhost:${addresses.receiver}`)
    .replaceAll(`--port ${PORTS.receiver}`, `--port ${addresses.receiver}`);
}

/** A free TCP port on loopback. */
async function freePort(): Promise<string> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return String(port);
}

/** The environment of every command: the user's, without what the test runner set for itself. */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (
      /^(VITEST|AWS_|TEST_|WEBHOOKS_|WORKFLOW|NODE_ENV$|DATABASE_URL$|PORT$|WS_PORT$|DEV_TOKEN_SECRET$)/.test(
        name,
      )
    )
      continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

/** Runs `command` in its own process group until it exits and `done(output)` holds, or the timeout. */
function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  /** Whether to stop waiting; `code` is undefined while the command runs. */
  done: (output: string, code: number | null | undefined) => boolean,
  timeoutMs: number,
): Promise<{ child: ChildProcess; output: string; code: number | null | undefined }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let code: number | null | undefined;
    const finish = () => {
      clearTimeout(timer);
      resolve({ child, output, code });
    };
    const check = () => {
      if (done(output, code)) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        check();
      });
    }
    child.on('exit', (exitCode) => {
      code = exitCode;
      check();
    });
  });
}

function killGroup(child: ChildProcess | undefined): void {
  if (child?.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
}

beforeAll(async () => {
  if (existsSync(WORKFLOWS_FILE)) renameSync(WORKFLOWS_FILE, KEPT_WORKFLOWS_FILE);
  const started = await run(
    'npm',
    ['start'],
    userEnv({ PORT: '0', WS_PORT: '0', PGLITE_PORT: '0' }),
    (output, code) => code !== undefined || output.includes('Press Ctrl-C to stop.'),
    90_000,
  );
  stack = started.child;
  startOutput = started.output;
  const http = /Health\s+http:\/\/(localhost:\d+)\/health/.exec(startOutput)?.[1];
  const ws = /WebSocket\s+ws:\/\/(localhost:\d+)\/ws/.exec(startOutput)?.[1];
  const postgres = /Postgres\s+postgres:\/\/postgres@(127\.0\.0\.1:\d+)\//.exec(startOutput)?.[1];
  if (!http || !ws || !postgres) throw new Error(`npm start did not come up:\n${startOutput}`);
  addresses = { http, ws, postgres, receiver: await freePort() };
}, 120_000);

afterAll(() => {
  killGroup(stack);
  rmSync(WORKFLOWS_FILE, { force: true });
  if (existsSync(KEPT_WORKFLOWS_FILE)) renameSync(KEPT_WORKFLOWS_FILE, WORKFLOWS_FILE);
});

const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const blocks = docBlocks(readme);

describe('README.md', () => {
  it('has runnable blocks for every section that shows commands', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    // Outbound Messages work on a default `npm start`: the sample carries the endpoint token (issue 16).
    expect(blocks.some((block) => block.script.includes('OpportunityOutboundMessage'))).toBe(true);
  });

  it('npm start prints no AWS SDK Node.js version warning', () => {
    expect(startOutput).toContain('Webhooks system running locally');
    expect(startOutput).not.toMatch(/NodeVersionSupportWarning|will require node/);
  });

  it.each(blocks.map((block) => [block.line, block] as const))(
    'the block at line %i runs and prints what it documents',
    async (_line, block) => {
      const [host, port] = addresses.http.split(':');
      const env = userEnv({ PORT: port as string, WS_PORT: (addresses.ws.split(':')[1] as string) ?? '' });
      expect(host).toBe('localhost');
      const expected = block.expected.map((text) => ({ text, pattern: answerPattern(substitute(text)) }));
      const answered = (output: string) => expected.every(({ pattern }) => pattern.test(output));
      // Background jobs (a listener, a receiver) may print after the script ends: wait for the
      // answers, then end the block's process group.
      const result = await run(
        'bash',
        ['-c', `set -euo pipefail\n${substitute(block.script)}`],
        env,
        (output, code) => code !== undefined && (code !== 0 || answered(output)),
        45_000,
      );
      killGroup(result.child);
      expect(result.code, result.output).toBe(0);
      for (const { text, pattern } of expected) expect(result.output, `documented: ${text}`).toMatch(pattern);
    },
    60_000,
  );
});
