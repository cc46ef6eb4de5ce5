/**
 * Helpers for the infra tests: synthesize with the same context `cdk synth` uses (cdk.json's feature flags),
 * into a temporary folder, and read IAM out of templates in a form a person can compare.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AppProps } from 'aws-cdk-lib';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The context cdk.json gives the CLI, so that tests synthesize what `npm run synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

export interface ScratchApp {
  readonly props: AppProps;
  cleanUp(): void;
}

/** App props writing the cloud assembly to a fresh temporary folder (bundled assets are megabytes). */
export function scratchAppProps(extraContext: Record<string, unknown> = {}): ScratchApp {
  const outdir = mkdtempSync(path.join(tmpdir(), 'cvm-infra-'));
  return {
    props: { outdir, context: { ...cdkJsonContext(), ...extraContext } },
    cleanUp: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/**
 * Turn CloudFormation intrinsics into readable strings: `{Ref: AWS::Region}` → `${AWS::Region}`,
 * `{Fn::GetAtt: [Table, Arn]}` → `${Table.Arn}`, `{Fn::Join: [sep, parts]}` → the joined string,
 * `{Fn::Sub: text}` → text.
 */
export function flatten(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(flatten);
  if (value === null || typeof value !== 'object') return value;
  const object = value as Record<string, unknown>;
  if (typeof object['Ref'] === 'string') return `\${${object['Ref']}}`;
  if (typeof object['Fn::Sub'] === 'string') return object['Fn::Sub'];
  const getAtt = object['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return `\${${getAtt.join('.')}}`;
  const join = object['Fn::Join'];
  if (Array.isArray(join)) {
    const [separator, parts] = join as [string, unknown[]];
    return parts.map((part) => String(flatten(part))).join(separator);
  }
  return Object.fromEntries(Object.entries(object).map(([key, inner]) => [key, flatten(inner)]));
}

export interface IamStatement {
  readonly Effect: string;
  readonly Action: string[];
  readonly Resource: string[];
  readonly Sid?: string;
  readonly Condition?: unknown;
}

export interface IamPolicyInTemplate {
  /** The logical id of the policy (or of the role holding it inline). */
  readonly logicalId: string;
  readonly statements: IamStatement[];
}

/** Every identity policy in a template: AWS::IAM::Policy, AWS::IAM::ManagedPolicy and roles' inline policies. */
export function iamPoliciesOf(template: { Resources?: Record<string, unknown> }): IamPolicyInTemplate[] {
  const policies: IamPolicyInTemplate[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    const { Type, Properties } = resource as { Type: string; Properties?: Record<string, unknown> };
    const documents: unknown[] = [];
    if (Type === 'AWS::IAM::Policy' || Type === 'AWS::IAM::ManagedPolicy')
      documents.push(Properties?.['PolicyDocument']);
    if (Type === 'AWS::IAM::Role' || Type === 'AWS::IAM::User' || Type === 'AWS::IAM::Group') {
      for (const inline of (Properties?.['Policies'] as { PolicyDocument: unknown }[] | undefined) ?? []) {
        documents.push(inline.PolicyDocument);
      }
    }
    for (const document of documents) {
      policies.push({ logicalId, statements: statementsOf(document) });
    }
  }
  return policies;
}

function statementsOf(document: unknown): IamStatement[] {
  const statements = (flatten(document) as { Statement: Record<string, unknown>[] }).Statement;
  return statements.map((statement) => ({
    ...statement,
    Effect: String(statement['Effect']),
    Action: asList(statement['Action']),
    Resource: asList(statement['Resource']),
  }));
}

function asList(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}
