/**
 * Where the API is and how to authenticate, from flags (then env): the local stack's local.json with
 * `--local`, or an AppSync endpoint with an API key (devices) or the AWS default credential chain (admins).
 */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { createGraphqlClient, type GraphqlClient } from '../client/graphql-client.ts';
import { DEFAULT_DATA_DIR, readLocalConfig } from '../local/config.ts';
import { UsageError } from './errors.ts';

export type CliEnv = Readonly<Record<string, string | undefined>>;

export interface ConnectionFlags {
  readonly local?: boolean;
  readonly dataDir?: string;
  readonly endpoint?: string;
  readonly apiKey?: string;
  readonly ca?: string;
  readonly region?: string;
}

const USER_AGENT = `cvm-cli node/${process.versions.node}`;

export function addDeviceConnectionOptions(command: Command): Command {
  return addLocalOptions(command)
    .addOption(new Option('--endpoint <url>', 'GraphQL endpoint URL (env CVM_ENDPOINT)').conflicts('local'))
    .addOption(new Option('--api-key <key>', 'device API key (env CVM_API_KEY)').conflicts('local'))
    .addOption(new Option('--ca <file>', 'PEM file of the CA to trust for the endpoint').conflicts('local'));
}

export function addAdminConnectionOptions(command: Command): Command {
  return addLocalOptions(command)
    .addOption(
      new Option(
        '--endpoint <url>',
        'GraphQL endpoint URL, signed with the AWS default credentials (env CVM_ENDPOINT)',
      ).conflicts('local'),
    )
    .addOption(
      new Option(
        '--region <region>',
        'AWS region of the endpoint (env AWS_REGION; read from an AppSync URL)',
      ).conflicts('local'),
    )
    .addOption(new Option('--ca <file>', 'PEM file of the CA to trust for the endpoint').conflicts('local'));
}

function addLocalOptions(command: Command): Command {
  return command
    .option('--local', 'use the local stack (reads <data-dir>/local.json)')
    .addOption(
      new Option(
        '--data-dir <dir>',
        `local stack data directory; implies --local (default $CVM_DATA_DIR, else ${DEFAULT_DATA_DIR})`,
      ).conflicts('endpoint'),
    );
}

/** A client with the device API key. */
export async function deviceClient(flags: ConnectionFlags, env: CliEnv): Promise<GraphqlClient> {
  if (usesLocalStack(flags, env)) {
    const config = await readLocalConfig(dataDir(flags, env));
    return createGraphqlClient({
      url: config.graphqlUrl,
      ca: await readFile(config.tlsCaFile, 'utf8'),
      auth: { kind: 'apiKey', apiKey: config.apiKey },
      userAgent: USER_AGENT,
    });
  }
  const apiKey = flags.apiKey ?? env.CVM_API_KEY;
  if (apiKey === undefined || apiKey === '') {
    throw new UsageError('--endpoint needs the device API key: --api-key KEY or CVM_API_KEY.');
  }
  return createGraphqlClient({
    url: endpoint(flags, env),
    ...(await caOption(flags)),
    auth: { kind: 'apiKey', apiKey },
    userAgent: USER_AGENT,
  });
}

/** A client that signs with the local admin credentials, or with the AWS default credential chain. */
export async function adminClient(flags: ConnectionFlags, env: CliEnv): Promise<GraphqlClient> {
  if (usesLocalStack(flags, env)) {
    const config = await readLocalConfig(dataDir(flags, env));
    return createGraphqlClient({
      url: config.graphqlUrl,
      ca: await readFile(config.tlsCaFile, 'utf8'),
      auth: {
        kind: 'iam',
        region: config.region,
        credentials: { accessKeyId: config.adminAccessKeyId, secretAccessKey: config.adminSecretAccessKey },
      },
      userAgent: USER_AGENT,
    });
  }
  const url = endpoint(flags, env);
  const region = flags.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? appSyncRegion(url);
  if (region === undefined) throw new UsageError('--endpoint needs the AWS region: --region REGION or AWS_REGION.');
  // Loaded only here: a device never needs the AWS SDK's credential providers.
  const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
  return createGraphqlClient({
    url,
    ...(await caOption(flags)),
    auth: { kind: 'iam', region, credentials: fromNodeProviderChain() },
    userAgent: USER_AGENT,
  });
}

export function dataDir(flags: { readonly dataDir?: string }, env: CliEnv): string {
  return flags.dataDir ?? env.CVM_DATA_DIR ?? DEFAULT_DATA_DIR;
}

/** --local or --data-dir; else --endpoint or CVM_ENDPOINT; neither is a usage error. */
export function usesLocalStack(flags: ConnectionFlags, env: CliEnv): boolean {
  if (flags.local === true || flags.dataDir !== undefined) return true;
  if (flags.endpoint !== undefined || env.CVM_ENDPOINT !== undefined) return false;
  throw new UsageError('Say which API to use: --local for the local stack, or --endpoint URL.');
}

function endpoint(flags: ConnectionFlags, env: CliEnv): string {
  const url = URL.parse(flags.endpoint ?? env.CVM_ENDPOINT ?? '');
  if (url?.protocol !== 'https:') {
    throw new UsageError(
      '--endpoint must be an https URL, e.g. https://<id>.appsync-api.<region>.amazonaws.com/graphql.',
    );
  }
  return url.href;
}

/** `https://<id>.appsync-api.<region>.amazonaws.com/graphql` names its region. */
function appSyncRegion(url: string): string | undefined {
  return /\.appsync-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(new URL(url).hostname)?.[1];
}

async function caOption(flags: ConnectionFlags): Promise<{ ca?: string }> {
  return flags.ca === undefined ? {} : { ca: await readFile(flags.ca, 'utf8') };
}
