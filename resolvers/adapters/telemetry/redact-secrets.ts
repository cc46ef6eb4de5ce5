/** The one redaction that every telemetry home (Powertools in Lambda, JSON lines locally) applies to log fields. */

export const REDACTED = '[redacted]';

/** Field names (lowercased, separators removed) that hint at a secret or a bulky credential. */
const SECRET_FIELD_NAME = /token|csr|privatekey|certificatepem|secret|password/;

/** Deep enough for any log fields we write; stops a cyclic object from recursing forever. */
const MAX_REDACTION_DEPTH = 8;

/**
 * A copy of `fields` in which every field whose name suggests a secret (registrationToken, token, csr,
 * privateKey, certificatePem, …), at any depth of plain objects and arrays, is replaced by `[redacted]`.
 */
export function redactSecrets(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return redactObject(fields, 0);
}

function redactObject(fields: Readonly<Record<string, unknown>>, depth: number): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fields).map(([name, value]) => [
      name,
      isSecretFieldName(name) ? REDACTED : redactValue(value, depth),
    ]),
  );
}

function redactValue(value: unknown, depth: number): unknown {
  if (depth >= MAX_REDACTION_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item: unknown) => redactValue(item, depth + 1));
  // Only plain objects: an Error keeps its prototype so Powertools can print its name, message and stack.
  if (isPlainObject(value)) return redactObject(value, depth + 1);
  return value;
}

function isSecretFieldName(name: string): boolean {
  return SECRET_FIELD_NAME.test(name.toLowerCase().replace(/[^a-z0-9]/g, ''));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
