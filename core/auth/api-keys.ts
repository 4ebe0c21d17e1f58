import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * Roles, each what one kind of person or machine does: `station` uploads photos, `inspector` reviews flagged pieces,
 * `manager` reads reports, `admin` manages keys, webhooks and the queue. Routes list the roles they admit; `admin`
 * is admitted everywhere (see api/auth).
 */
export const ROLES = ['station', 'inspector', 'manager', 'admin'] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

/**
 * A key is `lp_<id>_<secret>`: the 12-character id is public (lists, audit trail, revocation), the secret is 32
 * random bytes (256 bits), so a plain sha256 is a sufficient one-way store: no key can be guessed from its hash, and
 * a slow KDF would only slow every request. Only the hash is stored.
 */
const KEY_RE = /^lp_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
/** The id the bootstrap admin key (LOUPE_BOOTSTRAP_ADMIN_KEY, any format) is stored under. */
export const BOOTSTRAP_KEY_ID = 'bootstrap';

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function generateKey(): { id: string; key: string; hash: string } {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const idBytes = randomBytes(12);
  const id = [...idBytes].map((b) => alphabet[b % alphabet.length]).join('');
  const key = `lp_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, key, hash: hashSecret(key) };
}

/** The id a presented key claims; anything not in the `lp_` form can only be the bootstrap key. */
export function keyIdOf(presented: string): string {
  return KEY_RE.exec(presented)?.[1] ?? BOOTSTRAP_KEY_ID;
}

/** Constant-time comparison of the presented key's hash with the stored one. */
export function keyMatches(presented: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(presented), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Session cookie values: 32 random bytes; stored as their sha256 like keys. */
export function generateSessionToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashSecret(token) };
}

/** How a key's holder appears in the audit trail: `inspector:alice`. */
export function actorOf(k: { role: string; name: string }): string {
  return `${k.role}:${k.name}`;
}
