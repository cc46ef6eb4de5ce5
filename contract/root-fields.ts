/**
 * The fields that need a resolver, read from the schema itself so that a field added to schema.graphql
 * gets its resolver on the next synth instead of answering null in production.
 */
import type { GraphQLObjectType, GraphQLSchema } from 'graphql';

export interface RootField {
  /** The root type's name as the schema declares it (`Query`, `Mutation`). */
  readonly typeName: string;
  readonly fieldName: string;
}

/** Every field of the query and mutation root types, in schema order. */
export function fieldsNeedingResolvers(schema: GraphQLSchema): RootField[] {
  const roots = [schema.getQueryType(), schema.getMutationType()].filter(
    (type): type is GraphQLObjectType => type !== null && type !== undefined,
  );
  return roots.flatMap((type) =>
    Object.keys(type.getFields()).map((fieldName) => ({ typeName: type.name, fieldName })),
  );
}
