import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PipelineError } from './errors.js';
import {
  PolishToleranceSchema,
  PorosityToleranceSchema,
  ProfilesFileSchema,
  SpacingToleranceSchema,
  type Profile,
  type ProfileSpec,
  type ProfilesFile,
} from './profile.schema.js';

export const DEFAULT_PROFILES_PATH = fileURLToPath(new URL('./profiles.default.json', import.meta.url));
export const PROFILES_ENV = 'LOUPE_PROFILES';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Key-sorted JSON, so that a profile's hash depends on its content, not on the order its file lists keys in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** First 12 hex of the sha256 of the canonical JSON of a validated profile (defaults filled in). */
export function profileVersion(spec: ProfileSpec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 12);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars in `over` replace those in `base`. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function readJson(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PipelineError('profile_invalid', `cannot read profiles file ${path}: ${(error as Error).message}`, { path });
  }
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    throw new PipelineError('profile_invalid', `profiles file ${path} is not JSON: ${(error as Error).message}`, { path });
  }
}

function parseProfilesFile(raw: unknown, source: string): ProfilesFile {
  const parsed = ProfilesFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PipelineError(
      'profile_invalid',
      `profiles file ${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`,
      { path: source, field: issue.path.join('.'), issues: parsed.error.issues.length },
    );
  }
  return parsed.data;
}

export interface ProfileSet {
  readonly names: readonly string[];
  /** Where the profiles came from (the default file, then the override file if any). */
  readonly sources: readonly string[];
  /** The named profile, with the metal's tolerance overrides merged in when `metal` has an entry. */
  get(name: string, metal?: string | null): Profile;
}

export interface LoadProfilesOptions {
  /** An override file merged over the defaults (deep merge by profile name); else `$LOUPE_PROFILES` if set. */
  overridePath?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Loads the default profiles and, when given, an override file deep-merged over them (an override can change one
 * tolerance of `ring` or add a new profile), then validates the result as a whole.
 */
export function loadProfiles(options: LoadProfilesOptions = {}): ProfileSet {
  const env = options.env ?? process.env;
  const overridePath = options.overridePath ?? (env[PROFILES_ENV] || undefined);
  let raw: unknown = readJson(DEFAULT_PROFILES_PATH);
  const sources = [DEFAULT_PROFILES_PATH];
  if (overridePath) {
    raw = deepMerge(raw, readJson(overridePath));
    sources.push(overridePath);
  }
  return profileSetFrom(parseProfilesFile(raw, sources.join(' + ')), sources);
}

/** Builds a profile set from an already-parsed object (tests, or a service that stores profiles elsewhere). */
export function profileSetFrom(file: ProfilesFile, sources: readonly string[] = ['(memory)']): ProfileSet {
  const checked = parseProfilesFile(file, sources.join(' + '));
  const versions = new Map(Object.entries(checked.profiles).map(([n, spec]) => [n, profileVersion(spec)]));
  return {
    names: Object.keys(checked.profiles),
    sources,
    get(name, metal) {
      const spec = checked.profiles[name];
      if (!spec) {
        throw new PipelineError('unknown_profile', `unknown profile "${name}" (known: ${Object.keys(checked.profiles).join(', ')})`, {
          profile: name,
        });
      }
      const profile: Profile = { ...spec, name, version: versions.get(name)! };
      const overrides = metal ? spec.metals[metal] : undefined;
      if (!overrides) return profile;
      // The version stays the profile's: the metal table is part of its content, so the hash already covers it.
      return {
        ...profile,
        porosity: PorosityToleranceSchema.parse(deepMerge(spec.porosity, overrides.porosity)),
        stone_spacing: SpacingToleranceSchema.parse(deepMerge(spec.stone_spacing, overrides.stone_spacing)),
        polish: PolishToleranceSchema.parse(deepMerge(spec.polish, overrides.polish)),
      };
    },
  };
}
