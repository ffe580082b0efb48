/**
 * The part of qlobber's API the router benchmark uses (qlobber ships no
 * types and there is no @types/qlobber).
 */
declare module 'qlobber' {
  export interface QlobberOptions {
    /** Level separator. @default '.' */
    separator?: string;
    /** Matches exactly one level. @default '*' */
    wildcard_one?: string;
    /** Matches zero or more levels. @default '#' */
    wildcard_some?: string;
    /** Whether `wildcard_one` also matches an empty level. @default false */
    match_empty_levels?: boolean;
    cache_adds?: boolean | Map<string, unknown>;
    cache_splits?: number;
    /** @default 100 */
    max_words?: number;
    /** @default 3 */
    max_wildcard_somes?: number;
  }

  export class Qlobber<V = unknown> {
    constructor(options?: QlobberOptions);
    add(topic: string, val: V): this;
    remove(topic: string, val?: V): this;
    match(topic: string): V[];
    test(topic: string, val: V): boolean;
    clear(): this;
  }
}
