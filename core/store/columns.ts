import { z } from 'zod';

/**
 * Zod helpers for reading rows back: the two drivers return different JS types for the same column, and a row is a
 * boundary like any other (a hand-edited database must fail loudly, not flow on as a wrong type).
 */

/** `timestamptz` arrives as Date from pg, as ISO text from SQLite; both leave as ISO-8601 UTC. */
export const timestampColumn = z.union([z.date(), z.string()]).transform((v, ctx) => {
  const d = v instanceof Date ? v : new Date(v);
  if (Number.isNaN(d.getTime())) {
    ctx.addIssue({ code: 'custom', message: `not a timestamp: ${String(v)}` });
    return z.NEVER;
  }
  return d.toISOString();
});

/** `jsonb` arrives parsed from pg, as text from SQLite. */
export function jsonColumn<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (typeof v === 'string' ? JSON.parse(v) : v), schema);
}

/** pg returns int8 / count(*) as strings. */
export const intColumn = z.coerce.number().int();
export const numberColumn = z.coerce.number();

export function nowIso(): string {
  return new Date().toISOString();
}

/** Normalises a caller's date (`2025-01-31` or any ISO date-time) to the stored ISO-8601 UTC form. */
export function toIso(value: string | Date): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}
