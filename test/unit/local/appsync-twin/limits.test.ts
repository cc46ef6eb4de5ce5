import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { exceededLimit } from '../../../../local/appsync-twin/limits.ts';

const LIMITS = { queryDepth: 3, resolverCount: 2 };

describe('exceededLimit', () => {
  it.each([
    ['a query within both limits', '{ devices { items { serialNumber } } }'],
    ['two root fields', '{ a: device(serialNumber: "1") { status } b: device(serialNumber: "2") { status } }'],
    ['introspection, which invokes no resolver', '{ __typename devices { nextToken } }'],
    [
      'a deep __schema introspection, which introspectionConfig governs instead',
      '{ __schema { types { fields { type { ofType { ofType { name } } } } } } }',
    ],
    ['a deep __type introspection', '{ __type(name: "T") { fields { type { ofType { ofType { name } } } } } }'],
  ])('accepts %s', (_case, query) => {
    expect(exceededLimit(parse(query), undefined, LIMITS)).toBeUndefined();
  });

  it.each([
    ['a query four levels deep', '{ a { b { c { d } } } }', /4 levels deep; this API allows at most 3/],
    ['depth hidden in a fragment', '{ a { ...F } } fragment F on T { b { c { d } } }', /4 levels deep/],
    ['depth hidden in an inline fragment', '{ a { ... on T { b { c { d } } } } }', /4 levels deep/],
    [
      'three aliased root fields',
      '{ x: device { s } y: device { s } z: device { s } }',
      /invokes 3 resolvers; .* at most 2/,
    ],
    [
      'a deep query beside an introspection field',
      '{ __schema { queryType { name } } a { b { c { d } } } }',
      /4 levels deep/,
    ],
    ['root fields spread from a fragment', '{ ...R } fragment R on Query { x: a y: b z: c }', /invokes 3 resolvers/],
  ])('refuses %s', (_case, query, message) => {
    expect(exceededLimit(parse(query), undefined, LIMITS)).toMatch(message);
  });

  it('survives a fragment cycle (validation reports it)', () => {
    const query = '{ a { ...F } } fragment F on T { b { ...F } }';
    expect(exceededLimit(parse(query), undefined, LIMITS)).toBeUndefined();
  });
});
