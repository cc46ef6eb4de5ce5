/**
 * Parses a query without letting a hostile one take the twin down: graphql-js's parser is recursive, so a few KB
 * of `{a{a{a…` exhaust the stack (RangeError) before any limit is checked. That, like any syntax error, is the
 * client's mistake and answers as one (HTTP 400 with a GraphQL error), never as a server failure.
 */
import { GraphQLError, parse, type DocumentNode, type Source } from 'graphql';

export const TOO_DEEP_TO_PARSE = 'Syntax Error: the document nests too deeply to be parsed.';

export function parseWithinStack(source: Source): DocumentNode | GraphQLError {
  try {
    return parse(source);
  } catch (error) {
    if (error instanceof GraphQLError) return error;
    if (error instanceof RangeError) return new GraphQLError(TOO_DEEP_TO_PARSE);
    throw error;
  }
}
