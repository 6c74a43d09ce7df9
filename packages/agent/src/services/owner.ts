/**
 * The owner of the request being served: the state its client said it works for (request header
 * `stratus-owner`). Carried through the async calls of one request so that a record made on the way
 * (a resource, or an imported object) is stamped with it without every service passing it along.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ApiOwner } from '@stratus/model';

const current = new AsyncLocalStorage<ApiOwner | undefined>();

/** Runs `fn` with `owner` as the owner of the request being served. */
export function withOwner<T>(owner: ApiOwner | undefined, fn: () => Promise<T>): Promise<T> {
  return current.run(owner, fn);
}

/** The owner of the request being served, if its client named one. */
export function requestOwner(): ApiOwner | undefined {
  return current.getStore();
}
