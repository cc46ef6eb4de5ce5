/** Where the API's schema lives: `schema.graphql`, deployed to AppSync unchanged and served by the local twin. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SCHEMA_FILE = fileURLToPath(new URL('../schema.graphql', import.meta.url));

export function readSchemaSdl(): string {
  return readFileSync(SCHEMA_FILE, 'utf8');
}
