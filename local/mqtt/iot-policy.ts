/**
 * AWS IoT Core's policy evaluation, for the actions an MQTT client makes, as a pure function:
 * - a request is allowed when some statement allows it and none denies it (an explicit Deny always wins; with no
 *   matching statement the answer is an implicit deny);
 * - `iot:Connect` is checked on `client/<client id>`, `iot:Publish` and `iot:Receive` on `topic/<topic>`,
 *   `iot:Subscribe` on `topicfilter/<filter>`, each as a full ARN;
 * - in Action and Resource, `*` matches any run of characters (also `/`) and `?` exactly one; MQTT's `+` and `#`
 *   are ordinary characters;
 * - policy variables (`${iot:ClientId}`, `${iot:Connection.Thing.ThingName}`, …) are replaced by the connection's
 *   values, as literal text (a `*` in a client id is not a wildcard); `${*}`, `${?}` and `${$}` stand for those
 *   characters. A statement whose Resource uses a variable the connection does not have (a thing name when no
 *   thing is attached) does not match, as AWS IoT leaves such a variable unresolved;
 * - Condition blocks: every operator and every key must hold, any one of a key's values may match.
 *
 * What a policy uses beyond this (NotAction, NotResource, another condition operator) is refused with an error
 * rather than guessed: a local endpoint that silently allowed more than AWS IoT would defeat its purpose.
 */
import type { IotPolicyDocument, IotPolicyStatement } from '../../contract/device-policy.ts';

export type IotMqttAction = 'iot:Connect' | 'iot:Publish' | 'iot:Subscribe' | 'iot:Receive';

/** Condition keys and policy variables of one connection, by name without `${}` (e.g. `iot:ClientId`). */
export type PolicyVariables = Readonly<Record<string, string>>;

export interface AuthorizationRequest {
  readonly action: IotMqttAction;
  /** The full resource ARN, e.g. `arn:aws:iot:us-east-1:123456789012:topic/things/t1/data`. */
  readonly resource: string;
  readonly variables: PolicyVariables;
}

export type AuthorizationDecision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';

export class UnsupportedPolicyError extends Error {
  override readonly name = 'UnsupportedPolicyError';
}

/** Decide `request` against every policy attached to the principal. */
export function evaluatePolicies(
  policies: readonly IotPolicyDocument[],
  request: AuthorizationRequest,
): AuthorizationDecision {
  let allowed = false;
  for (const policy of policies) {
    for (const statement of policy.Statement) {
      if (!statementApplies(statement, request)) continue;
      if (statement.Effect === 'Deny') return 'ExplicitDeny';
      allowed = true;
    }
  }
  return allowed ? 'Allow' : 'ImplicitDeny';
}

export function isAllowed(policies: readonly IotPolicyDocument[], request: AuthorizationRequest): boolean {
  return evaluatePolicies(policies, request) === 'Allow';
}

function statementApplies(statement: IotPolicyStatement, request: AuthorizationRequest): boolean {
  for (const key of Object.keys(statement)) {
    if (!STATEMENT_KEYS.has(key)) throw new UnsupportedPolicyError(`Policy statements with ${key} are not supported.`);
  }
  if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny') {
    throw new UnsupportedPolicyError(`Unknown policy Effect ${JSON.stringify(statement.Effect)}.`);
  }
  const actionMatches = asList(statement.Action).some((pattern) =>
    // Action names are case-insensitive, as in IAM.
    wildcardRegExp([{ text: pattern.toLowerCase(), literal: false }]).test(request.action.toLowerCase()),
  );
  if (!actionMatches) return false;
  const resourceMatches = asList(statement.Resource).some((pattern) => {
    const regExp = resolvePattern(pattern, request.variables);
    return regExp !== undefined && regExp.test(request.resource);
  });
  return resourceMatches && conditionsHold(statement, request.variables);
}

const STATEMENT_KEYS = new Set(['Sid', 'Effect', 'Action', 'Resource', 'Condition']);

function asList(value: string | readonly string[]): readonly string[] {
  return typeof value === 'string' ? [value] : value;
}

interface PatternPart {
  readonly text: string;
  /** True for the value of a policy variable: its `*` and `?` are characters, not wildcards. */
  readonly literal: boolean;
}

const SPECIAL_CHARACTERS: Readonly<Record<string, string>> = { '*': '*', '?': '?', $: '$' };

/** Split `pattern` at its `${…}` variables; undefined when one of them has no value for this connection. */
function substituteVariables(pattern: string, variables: PolicyVariables): PatternPart[] | undefined {
  const parts: PatternPart[] = [];
  let rest = pattern;
  for (let start = rest.indexOf('${'); start >= 0; start = rest.indexOf('${')) {
    const end = rest.indexOf('}', start);
    if (end < 0) break;
    const name = rest.slice(start + 2, end);
    const value = SPECIAL_CHARACTERS[name] ?? (Object.hasOwn(variables, name) ? variables[name] : undefined);
    if (value === undefined) return undefined;
    parts.push({ text: rest.slice(0, start), literal: false }, { text: value, literal: true });
    rest = rest.slice(end + 1);
  }
  parts.push({ text: rest, literal: false });
  return parts;
}

function resolvePattern(pattern: string, variables: PolicyVariables): RegExp | undefined {
  const parts = substituteVariables(pattern, variables);
  return parts === undefined ? undefined : wildcardRegExp(parts);
}

function wildcardRegExp(parts: readonly PatternPart[]): RegExp {
  let source = '';
  for (const part of parts) {
    for (const character of part.text) {
      if (!part.literal && character === '*') source += '[\\s\\S]*';
      else if (!part.literal && character === '?') source += '[\\s\\S]';
      else source += character.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 'u');
}

type ConditionTest = (actual: string | undefined, expected: readonly string[], variables: PolicyVariables) => boolean;

function resolvedValues(expected: readonly string[], variables: PolicyVariables): string[] {
  return expected.flatMap((value) => {
    const parts = substituteVariables(value, variables);
    return parts === undefined ? [] : [parts.map((part) => part.text).join('')];
  });
}

function likeMatch(actual: string, expected: readonly string[], variables: PolicyVariables): boolean {
  return expected.some((value) => resolvePattern(value, variables)?.test(actual) ?? false);
}

/** The operators IAM defines for strings and booleans, which are the ones AWS IoT policies use for MQTT. */
const CONDITION_OPERATORS: Readonly<Record<string, ConditionTest>> = {
  StringEquals: (actual, expected, variables) =>
    actual !== undefined && resolvedValues(expected, variables).includes(actual),
  StringNotEquals: (actual, expected, variables) =>
    actual === undefined || !resolvedValues(expected, variables).includes(actual),
  StringEqualsIgnoreCase: (actual, expected, variables) =>
    actual !== undefined &&
    resolvedValues(expected, variables).some((value) => value.toLowerCase() === actual.toLowerCase()),
  StringNotEqualsIgnoreCase: (actual, expected, variables) =>
    actual === undefined ||
    !resolvedValues(expected, variables).some((value) => value.toLowerCase() === actual.toLowerCase()),
  StringLike: (actual, expected, variables) => actual !== undefined && likeMatch(actual, expected, variables),
  StringNotLike: (actual, expected, variables) => actual === undefined || !likeMatch(actual, expected, variables),
  Bool: (actual, expected) => actual !== undefined && expected.some((value) => value.toLowerCase() === actual),
  Null: (actual, expected) => expected.some((value) => (value.toLowerCase() === 'true') === (actual === undefined)),
};

function conditionsHold(statement: IotPolicyStatement, variables: PolicyVariables): boolean {
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    const test = CONDITION_OPERATORS[operator];
    if (test === undefined) throw new UnsupportedPolicyError(`The condition operator ${operator} is not supported.`);
    for (const [key, expected] of Object.entries(keys)) {
      const actual = Object.hasOwn(variables, key) ? variables[key] : undefined;
      if (!test(actual, asList(expected), variables)) return false;
    }
  }
  return true;
}
