import { readdir, readFile } from 'node:fs/promises';
import { sql } from 'drizzle-orm';
import type { Db } from './client';
import { schemaMigrations } from './schema';

export interface Migration {
  id: string;
  statements: string[];
}

/** The folder holding the migration files, next to this module in source and in the Lambda bundle. */
export const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  return Promise.all(
    files.map(async (name) => ({
      id: name.replace(/\.sql$/, ''),
      statements: splitStatements(await readFile(new URL(name, dir), 'utf8')),
    })),
  );
}

/** Splits on semicolons that end a line, dropping comment-only chunks. */
export function splitStatements(text: string): string[] {
  return text
    .split(/;[ \t]*(?:\r?\n|$)/)
    .map((chunk) =>
      chunk
        .split('\n')
        .filter((line) => !line.trim().startsWith('--'))
        .join('\n')
        .trim(),
    )
    .filter((statement) => statement.length > 0);
}

/** Applies every migration not yet recorded, each in its own transaction. Returns the ids applied. */
export async function migrate(db: Db, migrations: readonly Migration[]): Promise<string[]> {
  await db.execute(
    sql`CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  const done = new Set(
    (await db.select({ id: schemaMigrations.id }).from(schemaMigrations)).map((row) => row.id),
  );
  const applied: string[] = [];
  for (const migration of migrations) {
    if (done.has(migration.id)) continue;
    await db.transaction(async (tx) => {
      for (const statement of migration.statements) await tx.execute(sql.raw(statement));
      await tx.insert(schemaMigrations).values({ id: migration.id });
    });
    applied.push(migration.id);
  }
  return applied;
}
