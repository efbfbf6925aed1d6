import type pg from 'pg';

/** The part of a pg Pool or Client the store's statements need. */
export type Queryable = Pick<pg.Pool, 'query'>;
