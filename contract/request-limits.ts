/**
 * AppSync's per-request limits as cvm deploys them (queryDepthLimit, resolverCountLimit); the local twin
 * enforces the same. cvm's operations are three levels deep and invoke one resolver per root field, so anything
 * far beyond is abuse, such as hundreds of aliased requestCertificate calls batched into one request.
 */
export const APPSYNC_REQUEST_LIMITS = { queryDepth: 5, resolverCount: 10 } as const;
