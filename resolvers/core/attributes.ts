/** Thing attributes as AWS IoT accepts them for a thing without a thing type. */
import { CvmError } from './errors.ts';

/** AWS IoT allows three attributes on a thing that has no thing type (cvm's things have none). */
export const MAX_ATTRIBUTES = 3;
const NAME_PATTERN = /^[a-zA-Z0-9_.,@/:#-]{1,128}$/;
const VALUE_PATTERN = /^[a-zA-Z0-9_.,@/:#=[\]-]{0,800}$/;

/**
 * Parse the AWSJSON `attributes` of a registration: a JSON object (or its JSON text, as AppSync
 * passes AWSJSON) of at most three string values, with AWS IoT's name and value character sets.
 */
export function parseThingAttributes(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw invalid('attributes must be a JSON object of string values.');
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalid('attributes must be a JSON object of string values.');
  }
  const entries = Object.entries(parsed);
  if (entries.length > MAX_ATTRIBUTES) {
    throw invalid(`A thing without a thing type can have at most ${MAX_ATTRIBUTES} attributes; got ${entries.length}.`);
  }
  const attributes: Record<string, string> = {};
  for (const [name, attributeValue] of entries) {
    if (!NAME_PATTERN.test(name)) {
      throw invalid(`Attribute name "${name.slice(0, 40)}" must be 1-128 of letters, digits and _.,@/:#-.`);
    }
    if (typeof attributeValue !== 'string' || !VALUE_PATTERN.test(attributeValue)) {
      throw invalid(`Attribute "${name}" must be a string of at most 800 letters, digits and _.,@/:#=[]-.`);
    }
    attributes[name] = attributeValue;
  }
  return attributes;
}

function invalid(message: string): CvmError {
  return new CvmError('InvalidInput', message);
}
