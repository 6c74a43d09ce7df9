import { type ResourceType, resourceTypes } from '@stratus/model';
import { type ResourceClass, resourceClass } from './resource.js';

/** A type name in PascalCase: `security_group` -> `SecurityGroup`. */
export type PascalCase<S extends string> = S extends `${infer H}_${infer T}`
  ? `${Capitalize<H>}${PascalCase<T>}`
  : Capitalize<S>;

/** The construct class of every registered type, by its class name (`Server`, `Network`, ...). */
export type ConstructClasses = { [T in ResourceType as PascalCase<T>]: ResourceClass<T> };

const pascal = (t: string) => t.replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase());

/**
 * The construct classes, derived from the registry: one per registered type, props, attributes and
 * references all typed from the type's schema. `new resources.Server(stack, 'web', {...})`.
 */
export const resources = Object.fromEntries(
  resourceTypes.map((t) => {
    const cls = resourceClass(t);
    Object.defineProperty(cls, 'name', { value: pascal(t) });
    return [pascal(t), cls];
  }),
) as unknown as ConstructClasses;
