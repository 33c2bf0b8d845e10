/** One page of a DynamoDB Query or Scan, as the document client answers it. */
export type Page = { Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> };

/** Every item of a Query or Scan, following LastEvaluatedKey from page to page. */
export async function allPages(
  page: (startKey: Record<string, unknown> | undefined) => Promise<Page>,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const result = await page(startKey);
    items.push(...(result.Items ?? []));
    startKey = result.LastEvaluatedKey;
  } while (startKey);
  return items;
}
