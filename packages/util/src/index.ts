/**
 * @stratus/util: small Node helpers the sdk and the agent share without the agent depending on the sdk
 * (and so on pg, tsx and yaml): atomic file writes and reads, file hashes, byte counts for people,
 * where the local host's agent lives, sparse image data (data extents, the content checksum, their wire
 * form), and memory for direct I/O.
 */
export * from './format.js';
export * from './fs.js';
export * from './local-agent.js';
export * from './memory.js';
export * from './sparse.js';
