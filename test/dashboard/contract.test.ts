/**
 * The page keeps its own copy of the tick's types (it is browser code and
 * imports nothing of the server's). This file fails to compile, under
 * `npm run typecheck`, when what the server sends no longer fits what the
 * page expects.
 */
import { describe, expect, it } from 'vitest';
import type { Tick as PageTick } from '../../src/dashboard/page/types.js';
import type { Tick as ServerTick } from '../../src/dashboard/view.js';

/** `true` only when A is assignable to B. */
type Fits<A, B> = [A] extends [B] ? true : false;

describe('the tick contract', () => {
  it("the server's tick fits the page's type", () => {
    const fits: Fits<ServerTick, PageTick> = true;
    expect(fits).toBe(true);
  });
});
