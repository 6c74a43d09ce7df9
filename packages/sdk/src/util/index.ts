/** Small helpers shared by the SDK and the agent: atomic file writes and reads, file hashes. */
export * from './fs.js';
