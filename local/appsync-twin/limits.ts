/**
 * AppSync's per-request limits (`queryDepthLimit`, `resolverCountLimit` on the API), checked before anything
 * runs. Depth counts nested field levels through fragments; the resolver count is the number of root fields,
 * since in cvm's API only root fields have resolvers.
 *
 * Introspection (`__schema`, `__type`) is left out of both: it has no resolvers, its shape is fixed by the GraphQL
 * spec rather than by the client (the standard introspection query is 13+ levels deep), and AppSync gates it with
 * its own switch, introspectionConfig (introspection.ts). AppSync's documentation defines queryDepthLimit over
 * "the body of query" without naming introspection; docs/parity.md records this reading.
 */
import { Kind, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import { getOperationAST } from 'graphql';
import { isIntrospectionField } from './introspection.ts';

export interface RequestLimits {
  readonly queryDepth: number;
  readonly resolverCount: number;
}

/** The first limit the operation breaks, as a message; undefined when it keeps to both. */
export function exceededLimit(
  document: DocumentNode,
  operationName: string | undefined,
  limits: RequestLimits,
): string | undefined {
  const operation = getOperationAST(document, operationName);
  if (operation === null || operation === undefined) return undefined;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const depth = depthOf(operation.selectionSet, fragments, new Set());
  if (depth > limits.queryDepth) {
    return `The query is ${depth} levels deep; this API allows at most ${limits.queryDepth}.`;
  }
  const resolvers = rootFieldCount(operation.selectionSet, fragments, new Set());
  if (resolvers > limits.resolverCount) {
    return `The request invokes ${resolvers} resolvers; this API allows at most ${limits.resolverCount}.`;
  }
  return undefined;
}

function depthOf(
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  visiting: Set<string>,
): number {
  let deepest = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (isIntrospectionField(selection.name.value)) continue;
      deepest = Math.max(
        deepest,
        1 + (selection.selectionSet ? depthOf(selection.selectionSet, fragments, visiting) : 0),
      );
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      deepest = Math.max(deepest, depthOf(selection.selectionSet, fragments, visiting));
    } else {
      const fragment = fragments.get(selection.name.value);
      // Cycles are a validation error reported elsewhere; here they just stop the walk.
      if (fragment === undefined || visiting.has(fragment.name.value)) continue;
      visiting.add(fragment.name.value);
      deepest = Math.max(deepest, depthOf(fragment.selectionSet, fragments, visiting));
      visiting.delete(fragment.name.value);
    }
  }
  return deepest;
}

function rootFieldCount(
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  visiting: Set<string>,
): number {
  let count = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      if (!selection.name.value.startsWith('__')) count += 1;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      count += rootFieldCount(selection.selectionSet, fragments, visiting);
    } else {
      const fragment = fragments.get(selection.name.value);
      if (fragment === undefined || visiting.has(fragment.name.value)) continue;
      visiting.add(fragment.name.value);
      count += rootFieldCount(fragment.selectionSet, fragments, visiting);
      visiting.delete(fragment.name.value);
    }
  }
  return count;
}
