import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoDbSecretStore } from '../../../../../resolvers/adapters/store/dynamodb-secret-store.ts';
import { startTestTable, type TestTable } from '../../../../support/dynalite.ts';

let table: TestTable;
let secrets: DynamoDbSecretStore;

beforeAll(async () => {
  table = await startTestTable();
  secrets = table.secrets;
});

afterAll(() => table.close());

describe('DynamoDbSecretStore', () => {
  describe('getOrCreate', () => {
    it('keeps the first secret written and hands it to every later caller', async () => {
      const first = new Uint8Array([1, 2, 3, 255]);

      expect(await secrets.getOrCreate('paging-key', first)).toEqual(first);
      const later = await secrets.getOrCreate('paging-key', new Uint8Array([9, 9, 9, 9]));

      expect(later).toEqual(first);
      expect(later).toBeInstanceOf(Uint8Array);
    });

    it('gives two racing writers the same secret', async () => {
      const [one, two] = await Promise.all([
        secrets.getOrCreate('raced-key', new Uint8Array([1])),
        secrets.getOrCreate('raced-key', new Uint8Array([2])),
      ]);

      expect(one).toEqual(two);
    });
  });
});
