/**
 * `mqttkit/router`: the topic trie sessions dispatch with, for an
 * application that matches many topic filters itself.
 *
 * ```ts
 * import { TopicRouter } from 'mqttkit/router';
 * const router = new TopicRouter<string>();
 * router.add('sensors/+/temperature', 'temp');
 * router.lookup('sensors/a/temperature'); // ['temp']
 * ```
 *
 * `topicMatches(filter, topic)`, for one filter, is also exported from `mqttkit`.
 *
 * @module mqttkit/router
 */
export { topicMatches } from './match.js';
export { TopicRouter } from './router.js';
