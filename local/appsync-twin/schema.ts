/**
 * The schema the twin executes: schema.graphql parsed after AppSync's prelude (contract/appsync-prelude.ts, shared
 * with the CDK app so that both read the schema the same way), with the AppSync scalars given AppSync's rules.
 */
import { isScalarType } from 'graphql';
import type { GraphQLSchema } from 'graphql';
import { loadAppSyncSchema } from '../../contract/appsync-prelude.ts';
import { applyAppSyncScalarRules } from './scalars.ts';

/** A fresh schema for `sdl`, safe to attach resolvers to: every call builds its own types. */
export function loadTwinSchema(sdl: string): GraphQLSchema {
  const schema = loadAppSyncSchema(sdl);
  for (const type of Object.values(schema.getTypeMap())) {
    if (isScalarType(type)) applyAppSyncScalarRules(type);
  }
  return schema;
}
