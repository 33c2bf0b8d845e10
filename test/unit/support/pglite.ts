import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import type { Db } from '../../../shared/db/client';
import { schema } from '../../../shared/db/schema';

export interface InMemoryDb {
  /** The drizzle handle, typed as the `Db` the processors take. */
  db: Db;
  /** Raw SQL for assertions about the database itself (catalog queries). */
  rows: (text: string) => Promise<unknown[]>;
  close: () => Promise<void>;
}

/** A real, empty, in-memory Postgres (PGlite); apply the migrations with `migrate` before use. */
export async function inMemoryDb(): Promise<InMemoryDb> {
  const client = new PGlite();
  await client.waitReady;
  return {
    db: drizzle(client, { schema }) as unknown as Db,
    rows: async (text) => (await client.query(text)).rows,
    close: () => client.close(),
  };
}
