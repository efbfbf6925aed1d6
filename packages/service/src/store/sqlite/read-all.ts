/**
 * Global reads, filtered or not, always in position order and stopping after `limit` matches.
 *
 * A single `category IN (...)` query over the (category, position) index cannot return rows in
 * position order: SQLite would collect every match after the checkpoint and sort it, once per
 * page, which makes catching up quadratic. Instead each filter value gets its own index range
 * read (already in position order, stopping at `limit`) and the ranges are merged here. Long
 * filter lists fall back to one scan in position order, which is linear over a whole catch-up.
 */

import type Database from 'better-sqlite3';

export interface EventRow {
  position: number;
  event_id: string;
  stream_id: string;
  stream_revision: number;
  category: string;
  event_type: string;
  data: string;
  metadata: string;
  created_at: number;
}

export const EVENT_COLUMNS =
  'position, event_id, stream_id, stream_revision, category, event_type, data, metadata, created_at';

/** Above this many filter values, one position-ordered scan beats merging index ranges. */
const MAX_MERGED_RANGES = 8;

export interface ReadAllStatements {
  all: Database.Statement;
  ofCategory: Database.Statement;
  ofCategoryAndTypes: Database.Statement;
  ofType: Database.Statement;
  scanCategories: Database.Statement;
  scanTypes: Database.Statement;
  scanCategoriesAndTypes: Database.Statement;
}

export function prepareReadAllStatements(db: Database.Database): ReadAllStatements {
  const select = (where: string) =>
    db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE ${where} ORDER BY position LIMIT ?`);
  // A unary '+' keeps SQLite from using an index for that term, so the plan stays the intended one.
  const anyOf = (column: string) => `+${column} IN (SELECT value FROM json_each(?))`;
  return {
    all: select('position > ?'),
    ofCategory: select('category = ? AND position > ?'),
    ofCategoryAndTypes: select(`category = ? AND position > ? AND ${anyOf('event_type')}`),
    ofType: select('event_type = ? AND position > ?'),
    scanCategories: select(`position > ? AND ${anyOf('category')}`),
    scanTypes: select(`position > ? AND ${anyOf('event_type')}`),
    scanCategoriesAndTypes: select(`position > ? AND ${anyOf('category')} AND ${anyOf('event_type')}`),
  };
}

export function selectAll(
  statements: ReadAllStatements,
  after: number,
  limit: number,
  categories: readonly string[] | undefined,
  types: readonly string[] | undefined,
): EventRow[] {
  const all = (statement: Database.Statement, ...params: unknown[]) => statement.all(...params) as EventRow[];
  if (!categories && !types) return all(statements.all, after, limit);
  const categorySet = categories && [...new Set(categories)];
  const typeSet = types && [...new Set(types)];
  const typesJson = typeSet && JSON.stringify(typeSet);

  if (categorySet && categorySet.length <= MAX_MERGED_RANGES) {
    return mergeByPosition(
      categorySet.map((category) =>
        typesJson
          ? all(statements.ofCategoryAndTypes, category, after, typesJson, limit)
          : all(statements.ofCategory, category, after, limit),
      ),
      limit,
    );
  }
  if (!categorySet && typeSet && typeSet.length <= MAX_MERGED_RANGES) {
    return mergeByPosition(
      typeSet.map((type) => all(statements.ofType, type, after, limit)),
      limit,
    );
  }
  const categoriesJson = categorySet && JSON.stringify(categorySet);
  if (categoriesJson && typesJson) return all(statements.scanCategoriesAndTypes, after, categoriesJson, typesJson, limit);
  if (categoriesJson) return all(statements.scanCategories, after, categoriesJson, limit);
  return all(statements.scanTypes, after, typesJson, limit);
}

/** Merges position-ordered lists (disjoint: an event has one category and one type) and keeps the first `limit`. */
function mergeByPosition(lists: EventRow[][], limit: number): EventRow[] {
  if (lists.length === 1) return lists[0] as EventRow[];
  return lists
    .flat()
    .sort((a, b) => a.position - b.position)
    .slice(0, limit);
}
