/** MessageStream on its own: the bounded buffer behind `messages()` and the manager's `listen`. */
import { describe, expect, it } from 'vitest';
import { MessageStream } from '../../src/session/index.js';
import { createMessageStream } from '../../src/session/message-stream.js';
import type { Message } from '../../src/session/types.js';

const msg = (n: number): Message => ({ topic: `t/${n}` }) as Message;
const topics = (results: IteratorResult<Message>[]) => results.map((r) => (r.done ? 'done' : r.value.topic));

describe('MessageStream', () => {
  it('gives every caller of next() its own message, in order, when several wait at once', async () => {
    const s = createMessageStream<Message>(undefined, 10, () => {});
    const waiting = [s.next(), s.next(), s.next()];
    s.push(msg(1));
    s.push(msg(2));
    s.push(msg(3));
    s.push(msg(4)); // nobody waits: buffered
    expect(topics(await Promise.all(waiting))).toEqual(['t/1', 't/2', 't/3']);
    expect(topics([await s.next()])).toEqual(['t/4']);
  });

  it('end() settles every waiting next() with done', async () => {
    const s = createMessageStream<Message>(undefined, 10, () => {});
    const waiting = [s.next(), s.next()];
    s.end();
    expect(topics(await Promise.all(waiting))).toEqual(['done', 'done']);
    expect((await s.next()).done).toBe(true);
  });

  it('keeps at most its capacity, dropping the oldest or the newest, and counts both', async () => {
    const oldest = createMessageStream<Message>(undefined, 2, () => {});
    const newest = createMessageStream<Message>(undefined, 2, () => {}, 'drop-newest');
    for (const s of [oldest, newest]) for (let i = 1; i <= 4; i++) s.push(msg(i));
    expect(topics([await oldest.next(), await oldest.next()])).toEqual(['t/3', 't/4']);
    expect(topics([await newest.next(), await newest.next()])).toEqual(['t/1', 't/2']);
    expect([oldest.received, oldest.dropped, newest.received, newest.dropped]).toEqual([4, 2, 4, 2]);
  });

  it('return() empties it, ends it and detaches it', async () => {
    const detached: unknown[] = [];
    const s = createMessageStream<Message>(undefined, 4, (x) => detached.push(x));
    s.push(msg(1));
    expect((await s.return()).done).toBe(true);
    expect(s.ended).toBe(true);
    expect(s.size).toBe(0);
    s.push(msg(2)); // after the end: ignored
    expect((await s.next()).done).toBe(true);
    expect(detached).toEqual([s]);
  });

  it('is made by the session, not by users: the class is there for types and instanceof', () => {
    expect(createMessageStream(undefined, 1, () => {})).toBeInstanceOf(MessageStream);
  });
});
