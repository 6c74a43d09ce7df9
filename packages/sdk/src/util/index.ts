/** Small helpers shared by the SDK and the agent (defined in @stratus/util). */
export * from '@stratus/util';
