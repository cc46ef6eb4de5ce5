/**
 * The resolver's IAM grants follow the code: every AWS SDK command the resolver sources send is granted, and
 * nothing else is. A new call in an adapter fails here instead of failing in AWS with AccessDenied.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DYNAMODB_INDEX_ACTIONS,
  DYNAMODB_TABLE_ACTIONS,
  IOT_ACTIONS_WITHOUT_RESOURCE_TYPE,
  IOT_CERTIFICATE_ACTIONS,
  IOT_POLICY_ATTACHMENT_ACTIONS,
  IOT_THING_ACTIONS,
  IOT_THING_PRINCIPAL_ACTIONS,
} from '../../infra/resolver-permissions.ts';
import { REPO_ROOT } from './cdk-support.ts';

const RESOLVERS_DIR = path.join(REPO_ROOT, 'resolvers');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Value imports named `…Command` from one AWS SDK package, across all resolver sources. */
function commandsImportedFrom(sdkPackage: string): Set<string> {
  const commands = new Set<string>();
  const importPattern = /import\s+(type\s+)?\{([^}]*)\}\s*from\s*'([^']+)'/g;
  for (const file of sourceFiles(RESOLVERS_DIR)) {
    for (const [, typeOnly, names = '', from] of readFileSync(file, 'utf8').matchAll(importPattern)) {
      if (from !== sdkPackage || typeOnly) continue;
      for (const specifier of names.split(',').map((name) => name.trim())) {
        const name = specifier.split(/\s+as\s+/)[0] ?? '';
        if (name.endsWith('Command') && !name.startsWith('type ')) commands.add(name);
      }
    }
  }
  return commands;
}

describe('resolver permissions', () => {
  it('grant exactly the AWS IoT calls the resolver sources make', () => {
    const called = [...commandsImportedFrom('@aws-sdk/client-iot')].map(
      (command) => `iot:${command.replace(/Command$/, '')}`,
    );
    const granted = [
      ...IOT_ACTIONS_WITHOUT_RESOURCE_TYPE,
      ...IOT_CERTIFICATE_ACTIONS,
      ...IOT_THING_ACTIONS,
      ...IOT_POLICY_ATTACHMENT_ACTIONS,
      ...IOT_THING_PRINCIPAL_ACTIONS,
    ];

    expect(called.length).toBeGreaterThan(0);
    expect(new Set(granted)).toEqual(new Set(called));
  });

  it('grant exactly the DynamoDB calls the resolver sources make', () => {
    const called = [...commandsImportedFrom('@aws-sdk/client-dynamodb')].map(
      (command) => `dynamodb:${command.replace(/Command$/, '')}`,
    );

    expect(called.length).toBeGreaterThan(0);
    expect(new Set(DYNAMODB_TABLE_ACTIONS)).toEqual(new Set(called));
  });

  it('grant only Query on the status index', () => {
    expect(DYNAMODB_INDEX_ACTIONS).toEqual(['dynamodb:Query']);
  });

  it('never let the resolver make keys on the server', () => {
    expect(commandsImportedFrom('@aws-sdk/client-iot')).not.toContain('CreateKeysAndCertificateCommand');
  });
});
