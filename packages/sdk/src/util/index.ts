/** Small helpers shared by the SDK and the agent: atomic file writes and reads. */
export * from './fs.js';
