/**
 * Optional peer dependencies, loaded on first use.
 *
 * What only one feature needs (ioredis for `RedisStore`, prom-client for the
 * Prometheus registry, aedes for the embedded broker) is an optional peer
 * dependency: a library user who never touches the feature neither installs
 * nor loads it. The feature loads its package here when it is first used;
 * when the package is not installed, it gets a {@link MissingPeerError}
 * naming the package and the command that installs it. Any other failure
 * (the package is there but one of its own dependencies is missing, or it
 * throws while loading) is passed on as it is.
 *
 * CommonJS packages (ioredis, prom-client) load synchronously through
 * `require`, so constructors can stay synchronous; ES modules (aedes) through
 * `import()`. Both resolve from this package's location, which finds the
 * application's copy.
 */
import { createRequire } from 'node:module';
import { MissingPeerError } from './errors.js';

const require = createRequire(import.meta.url);

/** Whether `err` says that `name` itself (not one of its dependencies) cannot be found. */
function isMissing(err: unknown, name: string): boolean {
  const e = err as NodeJS.ErrnoException | null;
  if (e === null || typeof e !== 'object') return false;
  if (e.code !== 'MODULE_NOT_FOUND' && e.code !== 'ERR_MODULE_NOT_FOUND') return false;
  // "Cannot find module 'ioredis'" (require), "Cannot find package 'aedes' imported from ..." (import)
  const first = String(e.message).split('\n', 1)[0];
  return first.includes(`'${name}'`);
}

/**
 * `require(name)` for `feature`: the CommonJS package, or a
 * {@link MissingPeerError} when it is not installed.
 */
export function requirePeer<T>(name: string, feature: string): T {
  try {
    return require(name) as T;
  } catch (err) {
    if (isMissing(err, name)) throw new MissingPeerError(name, feature, { cause: err });
    throw err;
  }
}

/**
 * `import(name)` for `feature`: the module's namespace, or a rejection
 * with {@link MissingPeerError} when it is not installed.
 */
export async function importPeer<T>(name: string, feature: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (err) {
    if (isMissing(err, name)) throw new MissingPeerError(name, feature, { cause: err });
    throw err;
  }
}

/** Which of `names` cannot be resolved from here (for the CLI's check before it loads). */
export function missingPeers(names: readonly string[]): string[] {
  return names.filter((name) => {
    try {
      require.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}
