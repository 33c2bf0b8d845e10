import { describe, expect, it } from 'vitest';
import { loadMigrations, splitStatements } from '../../../../shared/db/migrate';

describe('splitStatements', () => {
  it('splits on semicolons that end a line', () => {
    const text = 'CREATE TABLE a (id int);\nCREATE TABLE b (id int);   \r\nCREATE INDEX b_idx ON b (id);';

    expect(splitStatements(text)).toEqual([
      'CREATE TABLE a (id int)',
      'CREATE TABLE b (id int)',
      'CREATE INDEX b_idx ON b (id)',
    ]);
  });

  it('keeps a semicolon inside a line in its statement', () => {
    const text = "INSERT INTO notes (body) VALUES ('a; b');\nSELECT 1;\n";

    expect(splitStatements(text)).toEqual(["INSERT INTO notes (body) VALUES ('a; b')", 'SELECT 1']);
  });

  it('drops comment-only chunks and comment lines', () => {
    const text = [
      '-- Header comment;',
      '-- still the header',
      '',
      'CREATE TABLE a (',
      '  -- the key',
      '  id int',
      ');',
      '',
      '-- trailing comment only',
      '',
    ].join('\n');

    expect(splitStatements(text)).toEqual(['CREATE TABLE a (\n  id int\n)']);
  });

  it('splits the shipped migration into its three statements', async () => {
    const [init] = await loadMigrations();

    expect(init?.id).toBe('0001_init');
    expect(init?.statements).toHaveLength(3);
    expect(init?.statements[0]).toMatch(/^CREATE TABLE IF NOT EXISTS synced_orders \(/);
    expect(init?.statements.every((s) => !s.includes('--'))).toBe(true);
  });
});

// migrate() itself runs against PGlite in test/unit/shared/process/processor.test.ts, which owns the
// suite's one in-memory Postgres.
