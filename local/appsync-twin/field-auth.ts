/**
 * AppSync's field-level authorization with several authorization modes
 * (developer guide, "Configuring authorization and authentication", additional authorization modes):
 *
 * - a field's allowed modes are its own auth directives when it has any;
 * - otherwise its parent type's auth directives when the type has any;
 * - otherwise the API's default mode only.
 *
 * A caller whose mode is not allowed gets the field as null with errorType `Unauthorized` and the message
 * "Not Authorized to access <field> on type <Type>" in a 200 response (AWS knowledge center, "How do I
 * troubleshoot Unauthorized errors when running GraphQL requests in AWS AppSync?").
 */
import type { DirectiveNode, GraphQLField, GraphQLObjectType } from 'graphql';

export const AUTH_MODES = ['API_KEY', 'AWS_IAM', 'OPENID_CONNECT', 'AMAZON_COGNITO_USER_POOLS', 'AWS_LAMBDA'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** The schema directive that grants each mode. `@aws_auth` is the legacy spelling of the Cognito one. */
const MODE_OF_DIRECTIVE: Readonly<Record<string, AuthMode>> = {
  aws_api_key: 'API_KEY',
  aws_iam: 'AWS_IAM',
  aws_oidc: 'OPENID_CONNECT',
  aws_cognito_user_pools: 'AMAZON_COGNITO_USER_POOLS',
  aws_auth: 'AMAZON_COGNITO_USER_POOLS',
  aws_lambda: 'AWS_LAMBDA',
};

function modesOf(directives: readonly DirectiveNode[]): Set<AuthMode> {
  const modes = new Set<AuthMode>();
  for (const directive of directives) {
    const mode = MODE_OF_DIRECTIVE[directive.name.value];
    if (mode !== undefined) modes.add(mode);
  }
  return modes;
}

function typeDirectives(type: GraphQLObjectType): DirectiveNode[] {
  const nodes = [type.astNode, ...type.extensionASTNodes];
  return nodes.flatMap((node) => node?.directives ?? []);
}

/** The modes that may read `field` of `parentType`, by the precedence rule above. */
export function allowedAuthModes(
  parentType: GraphQLObjectType,
  field: GraphQLField<unknown, unknown>,
  defaultMode: AuthMode,
): ReadonlySet<AuthMode> {
  const fieldModes = modesOf(field.astNode?.directives ?? []);
  if (fieldModes.size > 0) return fieldModes;
  const parentModes = modesOf(typeDirectives(parentType));
  if (parentModes.size > 0) return parentModes;
  return new Set([defaultMode]);
}

/** The message AppSync gives for a field the caller's mode may not read. */
export function notAuthorizedMessage(fieldName: string, typeName: string): string {
  return `Not Authorized to access ${fieldName} on type ${typeName}`;
}
