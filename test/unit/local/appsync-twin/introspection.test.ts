import { getIntrospectionQuery, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { introspectionErrors } from '../../../../local/appsync-twin/introspection.ts';

describe('introspectionErrors', () => {
  it('lets every operation through when introspection is ENABLED', () => {
    expect(introspectionErrors(parse(getIntrospectionQuery()), 'ENABLED')).toEqual([]);
  });

  it.each([
    ['the standard introspection query', getIntrospectionQuery(), '__schema'],
    ['a __type lookup', '{ __type(name: "Device") { name } }', '__type'],
    ['__schema hidden in a fragment', '{ ...F } fragment F on Query { __schema { queryType { name } } }', '__schema'],
  ])('refuses %s when introspection is DISABLED, at the field', (_case, query, field) => {
    const errors = introspectionErrors(parse(query), 'DISABLED');

    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]?.message).toContain(`"${field}"`);
    expect(errors[0]?.locations).toHaveLength(1);
  });

  it('keeps __typename, which clients add to every selection, when introspection is DISABLED', () => {
    expect(introspectionErrors(parse('{ __typename devices { __typename } }'), 'DISABLED')).toEqual([]);
  });
});
