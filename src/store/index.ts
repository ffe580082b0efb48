export {
  FileStore,
  type FileStoreDamage,
  FileStoreError,
  type FileStoreEvents,
  type FileStoreOptions,
  type FileStoreStats,
} from './file.js';
export type { LogRange } from './file-log.js';
export { MemoryStore } from './memory.js';
export { decodeMessage, decodeSubscription, encodeMessage, encodeSubscription } from './record.js';
export { RedisStore, type RedisStoreOptions } from './redis.js';
export type { RedisClient, RedisPipeline } from './redis-client.js';
export type { PersistedSession, SessionStore, StoredMessage, StoredSubscription } from './types.js';
