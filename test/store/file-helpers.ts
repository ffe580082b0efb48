/** Temp dirs and comparisons for the FileStore tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PersistedSession } from '../../src/store/types.js';

const made: string[] = [];

/** A fresh directory under the OS temp dir; `removeTempDirs` deletes them all. */
export function tempDir(label = 'filestore'): string {
  const dir = mkdtempSync(join(tmpdir(), `mqttkit-${label}-`));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A loaded session as plain data, so two stores' results compare with toEqual. */
export function plain(s: PersistedSession): unknown {
  return {
    messages: s.messages.map((m) => ({
      seq: m.seq,
      stage: m.stage,
      packetId: m.packetId,
      expiresAt: m.expiresAt,
      topic: m.packet.topic,
      qos: m.packet.qos,
      retain: m.packet.retain,
      payload: Buffer.from(m.packet.payload).toString('hex'),
    })),
    incomingQoS2: [...s.incomingQoS2].sort((a, b) => a - b),
    subscriptions: [...s.subscriptions]
      .sort((a, b) => (a.topicFilter < b.topicFilter ? -1 : 1))
      .map((x) => JSON.parse(JSON.stringify(x))),
  };
}
