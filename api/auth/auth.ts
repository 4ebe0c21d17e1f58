import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { actorOf, keyIdOf, keyMatches, type Role } from '../../core/auth/api-keys.js';
import type { Config } from '../../core/config.schema.js';
import { ForbiddenError, LoupeError, UnauthorizedError } from '../../core/errors.js';
import type { KeysDal } from '../../core/store/keys-dal.js';

/** Who is calling: the key (directly or behind a session cookie), its role and, for a station key, its station. */
export interface AuthContext {
  keyId: string;
  name: string;
  role: Role;
  stationId: string | null;
  /** How the audit trail names them: `<role>:<name>`. */
  actor: string;
  via: 'key' | 'session';
}

/**
 * Each route says who may call it in its `config.roles`: a list of roles (admin is always admitted as well), or
 * `'public'`. A route that says nothing is admin-only, so a route added without thought is closed, not open.
 */
export type RouteRoles = readonly Role[] | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    roles?: RouteRoles;
  }
  interface FastifyRequest {
    auth: AuthContext | null;
  }
}

export const SESSION_COOKIE = 'loupe_session';

/** Roles of the usual route kinds, so routes read as intent. Admin is implied everywhere. */
export const ROLES_READ: RouteRoles = ['station', 'inspector', 'manager'];
export const ROLES_REVIEW: RouteRoles = ['inspector', 'manager'];
export const ROLES_MANAGE: RouteRoles = ['admin'];

/** Paths served by plugins that cannot carry route config: the OpenAPI UI is public. */
const PUBLIC_PREFIXES = ['/docs'];

export function readCookie(req: FastifyRequest, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{1,128}$/.test(v) ? v : null;
    }
  }
  return null;
}

function presentedKey(req: FastifyRequest): string | null {
  const authz = req.headers.authorization;
  if (typeof authz === 'string' && authz.length > 0) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authz);
    if (!m) throw new UnauthorizedError('Authorization must be "Bearer <API key>"', 'unauthenticated');
    return m[1]!;
  }
  const x = req.headers['x-api-key'];
  if (typeof x === 'string' && x.length > 0) return x.trim();
  return null;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The onRequest hook: authenticates every request (API key in `Authorization: Bearer` or `x-api-key`, else the
 * session cookie), then checks the route's roles. The key itself never reaches a log: the logger redacts both
 * headers and the cookie, and errors name the key's id at most.
 */
export function registerAuth(app: FastifyInstance, deps: { keys: KeysDal }): void {
  app.decorateRequest('auth', null);

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    try {
      await check(req, reply);
    } catch (err) {
      // Answered here rather than thrown: plugins with an error handler of their own (bull-board's turns every
      // error into a 500) must not decide what a refused request sees.
      if (!(err instanceof LoupeError)) throw err;
      const statusCode = err instanceof UnauthorizedError ? 401 : 403;
      if (statusCode === 401) reply.header('www-authenticate', 'Bearer realm="loupe"');
      return reply.code(statusCode).send({ statusCode, error: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) });
    }
  });

  async function check(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const url = req.routeOptions.url;
    const roles: RouteRoles = req.routeOptions.config?.roles ?? (url && PUBLIC_PREFIXES.some((p) => url.startsWith(p)) ? 'public' : ['admin']);

    let auth: AuthContext | null = null;
    try {
      auth = await authenticate(req, deps.keys);
    } catch (err) {
      // A public route answers even when the credentials sent with it are bad (a stale cookie on /readyz).
      if (roles !== 'public') {
        reply.header('www-authenticate', 'Bearer realm="loupe"');
        throw err;
      }
    }
    req.auth = auth;
    if (roles === 'public') return;
    if (!auth) {
      reply.header('www-authenticate', 'Bearer realm="loupe"');
      throw new UnauthorizedError(
        'an API key is required: send "Authorization: Bearer <key>" (keys are made with `loupe keys create`)',
        'unauthenticated',
      );
    }
    if (auth.role !== 'admin' && !roles.includes(auth.role)) {
      throw new ForbiddenError(
        `${req.method} ${url ?? req.url.split('?')[0]} needs role ${[...roles.filter((r) => r !== 'admin'), 'admin'].join(' or ')}; key ${auth.keyId} has role ${auth.role}`,
        'forbidden',
        { required: roles, role: auth.role },
      );
    }
    if (auth.via === 'session' && !SAFE_METHODS.has(req.method)) {
      // SameSite=Strict already keeps other sites' forms away; a mismatching Origin is refused as well.
      const origin = req.headers.origin;
      if (origin && origin !== 'null') {
        let host: string | null = null;
        try {
          host = new URL(origin).host;
        } catch {
          host = null;
        }
        if (host !== req.headers.host) throw new ForbiddenError(`cross-origin ${req.method} with a session cookie refused`, 'cross_origin');
      }
    }
  }
}

async function authenticate(req: FastifyRequest, keys: KeysDal): Promise<AuthContext | null> {
  const presented = presentedKey(req);
  if (presented !== null) {
    const id = keyIdOf(presented);
    const key = await keys.find(id);
    // Same message whether the id is unknown or the secret wrong, so ids cannot be probed.
    if (!key || !keyMatches(presented, key.hash)) throw new UnauthorizedError('unknown API key', 'unauthenticated');
    if (key.revokedAt) throw new UnauthorizedError(`API key ${key.id} was revoked at ${key.revokedAt}`, 'key_revoked');
    await keys.touch(key.id).catch(() => {});
    return { keyId: key.id, name: key.name, role: key.role, stationId: key.stationId, actor: actorOf(key), via: 'key' };
  }
  const token = readCookie(req, SESSION_COOKIE);
  if (token) {
    const key = await keys.sessionKey(token);
    if (!key) throw new UnauthorizedError('the session has expired or its key was revoked; sign in again', 'session_expired');
    return { keyId: key.id, name: key.name, role: key.role, stationId: key.stationId, actor: actorOf(key), via: 'session' };
  }
  return null;
}

export function sessionCookie(req: FastifyRequest, config: Config, value: string, maxAgeS: number): string {
  const secure = config.auth.cookieSecure === 'true' || (config.auth.cookieSecure === 'auto' && req.protocol === 'https');
  return [`${SESSION_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeS}`, ...(secure ? ['Secure'] : [])].join('; ');
}
