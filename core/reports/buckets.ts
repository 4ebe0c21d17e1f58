import type { TimeUnit } from './casting-query.js';

/** Time subgroups from UTC days (`YYYY-MM-DD`): the day itself, the Monday of its ISO week, or `YYYY-MM`. */
export function bucketOf(day: string, unit: TimeUnit): string {
  if (unit === 'day') return day;
  if (unit === 'month') return day.slice(0, 7);
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  return d.toISOString().slice(0, 10);
}

/** First instant of a bucket key and of the next bucket (for deciding whether a recorded alert lies in a period). */
export function bucketRange(key: string, unit: TimeUnit): [Date, Date] {
  const start = new Date(unit === 'month' ? `${key}-01T00:00:00Z` : `${key}T00:00:00Z`);
  const end = new Date(start);
  if (unit === 'day') end.setUTCDate(end.getUTCDate() + 1);
  else if (unit === 'week') end.setUTCDate(end.getUTCDate() + 7);
  else end.setUTCMonth(end.getUTCMonth() + 1);
  return [start, end];
}

/** Daily points up to about a quarter, weekly up to about a year and a half, monthly beyond. */
export function defaultInterval(from: string, to: string): TimeUnit {
  const days = (Date.parse(to) - Date.parse(from)) / 86_400_000;
  if (days <= 92) return 'day';
  if (days <= 550) return 'week';
  return 'month';
}

export function dayKey(d: Date): string {
  return d.toISOString().slice(0, 10);
}
