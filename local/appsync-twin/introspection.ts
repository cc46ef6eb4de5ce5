/**
 * Introspection as AppSync treats it: `__schema` and `__type` are the introspection fields; `introspectionConfig`
 * DISABLED turns any operation that selects one into a validation error (AWS blog "Control GraphQL execution
 * complexity, query depth, and introspection with AWS AppSync"). `__typename` is not introspection of the schema
 * and stays available, as clients such as Amplify and Apollo add it to every selection.
 */
import { GraphQLError, Kind, visit, type DocumentNode } from 'graphql';
import type { IntrospectionConfig } from '../../contract/introspection.ts';

export type IntrospectionSetting = IntrospectionConfig;

export function isIntrospectionField(name: string): boolean {
  return name === '__schema' || name === '__type';
}

/** One error per introspection field the document selects, when introspection is disabled. */
export function introspectionErrors(document: DocumentNode, setting: IntrospectionSetting): GraphQLError[] {
  if (setting === 'ENABLED') return [];
  const errors: GraphQLError[] = [];
  visit(document, {
    [Kind.FIELD](node) {
      if (isIntrospectionField(node.name.value)) {
        errors.push(
          new GraphQLError(`Introspection is disabled for this API; the field "${node.name.value}" is not available.`, {
            nodes: node,
          }),
        );
      }
    },
  });
  return errors;
}
