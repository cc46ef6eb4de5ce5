/**
 * What AppSync adds to every schema before it reads it: its scalars and its auth directives.
 *
 * schema.graphql is deployed to AppSync unchanged, so it uses these names without declaring them. graphql-js
 * (the CDK app deriving resolvers, the local twin serving the schema) needs them declared, so it parses the
 * prelude and the schema together.
 */
import { buildASTSchema, concatAST, parse, Source, type GraphQLSchema } from 'graphql';

const APPSYNC_SCALARS = [
  'AWSDateTime',
  'AWSJSON',
  'AWSDate',
  'AWSTime',
  'AWSTimestamp',
  'AWSEmail',
  'AWSURL',
  'AWSPhone',
  'AWSIPAddress',
] as const;

export const APPSYNC_PRELUDE = [
  ...APPSYNC_SCALARS.map((name) => `scalar ${name}`),
  'directive @aws_api_key on FIELD_DEFINITION | OBJECT',
  'directive @aws_iam on FIELD_DEFINITION | OBJECT',
  'directive @aws_oidc on FIELD_DEFINITION | OBJECT',
  'directive @aws_lambda on FIELD_DEFINITION | OBJECT',
  'directive @aws_cognito_user_pools(cognito_groups: [String]) on FIELD_DEFINITION | OBJECT',
  'directive @aws_auth(cognito_groups: [String]) on FIELD_DEFINITION',
  'directive @aws_subscribe(mutations: [String]) on FIELD_DEFINITION',
  '',
].join('\n');

/**
 * Parse AppSync SDL (as deployed) into a graphql-js schema; throws on any SDL error, as AppSync would.
 * The prelude and the SDL are parsed as separate sources so that an error names the line in `sourceName`.
 */
export function loadAppSyncSchema(sdl: string, sourceName = 'schema.graphql'): GraphQLSchema {
  const document = concatAST([
    parse(new Source(APPSYNC_PRELUDE, 'AppSync prelude')),
    parse(new Source(sdl, sourceName)),
  ]);
  return buildASTSchema(document);
}
