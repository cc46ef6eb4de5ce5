/**
 * CORS as AppSync's GraphQL endpoint answers it, so that a web page on another origin (Amplify in a browser,
 * GraphiQL, Apollo Sandbox) can call the twin: any origin, the headers AppSync clients send (API key, SigV4 with
 * or without a session token, Amplify's user agent), and the response headers a client reads (request id, error
 * type). AppSync answers `Access-Control-Allow-Origin: *` and no credentials (cookies are not how it
 * authenticates), so neither does the twin.
 */
export const CORS_ALLOWED_HEADERS = [
  'x-api-key',
  'authorization',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-user-agent',
  'x-amz-content-sha256',
  'content-type',
] as const;

/** On every response. */
export const CORS_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'x-amzn-RequestId,x-amzn-ErrorType,Date',
};

/** On the answer to a preflight `OPTIONS`, besides the above. */
export const PREFLIGHT_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-methods': 'POST, OPTIONS',
  'access-control-allow-headers': CORS_ALLOWED_HEADERS.join(','),
  'access-control-max-age': '86400',
};
