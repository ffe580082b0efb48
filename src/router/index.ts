export { matchFilter, topicMatches } from './match.js';
export { TopicRouter } from './router.js';
