import { describe, expect, it } from 'vitest';
import { withoutVariableValue } from '../../../../local/appsync-twin/response.ts';

describe('withoutVariableValue', () => {
  it('drops the quoted variable value (it may hold a registration token) and keeps the reason', () => {
    const message =
      'Variable "$input" got invalid value { serialNumber: "SN-1", registrationToken: "s3cr3t-token" }; ' +
      'Field "csr" of required type "String!" was not provided.';
    expect(withoutVariableValue(message)).toBe(
      'Variable "$input" got invalid value; Field "csr" of required type "String!" was not provided.',
    );
  });

  it('leaves other messages alone', () => {
    expect(withoutVariableValue('Cannot query field "nope" on type "Query".')).toBe(
      'Cannot query field "nope" on type "Query".',
    );
  });
});
