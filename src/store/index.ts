export { FileStore, FileStoreError, type FileStoreOptions } from './file.js';
export { MemoryStore } from './memory.js';
export { decodeMessage, decodeSubscription, encodeMessage, encodeSubscription } from './record.js';
export { RedisStore, type RedisStoreOptions } from './redis.js';
export type { PersistedSession, SessionStore, StoredMessage, StoredSubscription } from './types.js';
