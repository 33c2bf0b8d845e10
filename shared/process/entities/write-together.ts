import type { Db } from '../../db/client';
import { errorCategoryOf } from '../../errors';
import { type SyncedTableSpec, type SyncedWrite, type SyncedWriter, upsertMonotonic } from './upsert';

interface Queued {
  spec: SyncedTableSpec;
  write: SyncedWrite;
  resolve: (changed: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs entity handlers together so that their writes to one table go in one statement: handlers
 * only wait on their writes, so once every handler is waiting (the next macrotask) the queued
 * writes are flushed, a statement per table, and the handlers go on (a merge's later writes make
 * another flush). Settles, per handler, as it would alone.
 */
export async function writeTogether(
  db: Db,
  handlers: readonly ((writer: SyncedWriter) => Promise<boolean>)[],
): Promise<PromiseSettledResult<boolean>[]> {
  const queued: Queued[] = [];
  const writer: SyncedWriter = {
    upsert: (spec, write) => new Promise((resolve, reject) => queued.push({ spec, write, resolve, reject })),
  };
  let running = handlers.length;
  const results = Promise.allSettled(
    handlers.map((handler) =>
      Promise.resolve()
        .then(() => handler(writer))
        .finally(() => running--),
    ),
  );
  while (running > 0) {
    await new Promise((resolve) => setImmediate(resolve));
    const flush = queued.splice(0);
    const bySpec = new Map<SyncedTableSpec, Queued[]>();
    for (const item of flush) bySpec.set(item.spec, [...(bySpec.get(item.spec) ?? []), item]);
    await Promise.all([...bySpec].map(([spec, items]) => flushTable(db, spec, items)));
  }
  return results;
}

/**
 * One statement for a table's writes. If it fails for anything but a dependency, the rows are
 * written one by one, so that a row Postgres refuses fails its own event only.
 */
async function flushTable(db: Db, spec: SyncedTableSpec, items: readonly Queued[]): Promise<void> {
  try {
    const changed = await upsertMonotonic(
      db,
      spec,
      items.map((item) => item.write),
    );
    for (const [index, item] of items.entries()) item.resolve(changed[index] ?? false);
  } catch (error) {
    if (items.length === 1 || errorCategoryOf(error) === 'dependency') {
      for (const item of items) item.reject(error);
      return;
    }
    for (const item of items) {
      await upsertMonotonic(db, spec, [item.write]).then(
        ([changed]) => item.resolve(changed ?? false),
        item.reject,
      );
    }
  }
}
