/**
 * The contract between AppSync (or the local twin) and the Lambda resolver.
 *
 * The APPSYNC_JS resolver (resolvers/appsync/invoke.js) sends a ResolverEvent as the Lambda payload and
 * turns the ResolverEnvelope back into a field value or `util.error(message, errorType)`. Client mistakes
 * therefore come back as a normal Lambda result and do not count as Lambda failures.
 */
import type { ErrorType } from './error-types.ts';

/** The subset of AppSync's identity the resolver uses. Null for API-key calls. */
export interface ResolverIdentity {
  readonly userArn?: string;
  readonly accountId?: string;
  readonly username?: string;
  readonly sourceIp?: readonly string[];
}

export interface ResolverEvent {
  /** `Query` or `Mutation`. */
  readonly parentTypeName: string;
  readonly fieldName: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  readonly identity: ResolverIdentity | null;
}

export type ResolverEnvelope =
  | { readonly data: unknown }
  | { readonly error: { readonly errorType: ErrorType; readonly message: string } };
