/** A function called with arguments it cannot take: the message says which and why (never the value). */
export class FunctionError extends Error {
  override readonly name = 'FunctionError';
}
