/**
 * AppSync's `introspectionConfig` for cvm's API, shared by the CDK construct (which deploys it) and the local twin
 * (which honours it), so that what a schema client sees locally is what it sees in AWS.
 *
 * AppSync enables introspection unless told otherwise (CreateGraphqlApi, `introspectionConfig`: "If no value is
 * provided, the introspection configuration will be set to ENABLED by default"); with DISABLED, an operation that
 * selects `__schema` or `__type` fails validation. The README recommends disabling it in production.
 */
export type IntrospectionConfig = 'ENABLED' | 'DISABLED';

/** What the construct deploys and the twin serves when nobody chooses. */
export const DEFAULT_INTROSPECTION: IntrospectionConfig = 'ENABLED';

/** The construct's boolean prop as AppSync's setting. */
export function introspectionConfig(enabled: boolean): IntrospectionConfig {
  return enabled ? 'ENABLED' : 'DISABLED';
}
