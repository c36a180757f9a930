/**
 * Types that check a deploy/ JSON file against an AWS SDK input type with tsc, as the file is
 * given to the AWS CLI with `--cli-input-json`.
 */

/** The input shape with every string-literal union widened to string, as a JSON import is typed. */
export type Json<T> = T extends string
  ? string
  : T extends readonly (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]?: Json<NonNullable<T[K]>> }
      : T;

/** `never` at every key of A that S does not have, at any depth: a misspelt field fails tsc. */
export type Exact<A, S> = A extends readonly (infer U)[]
  ? S extends readonly (infer V)[]
    ? Exact<U, V>[]
    : never
  : A extends object
    ? { [K in keyof A]: K extends keyof S ? Exact<A[K], NonNullable<S[K]>> : never }
    : A;
