/**
 * The core wired as the local stack runs it, with no server in front: dynalite on disk for DynamoDB and the
 * local CA for AWS IoT. `npm start` puts the AppSync twin in front of it; the benchmark drives it directly.
 */
import 'reflect-metadata';
import path from 'node:path';
import {
  openLocalCertificateAuthority,
  type EndpointInfo,
  type OpenedLocalCertificateAuthority,
} from '../resolvers/adapters/authority/local-ca/authority.ts';
import { DynamoDbSecretStore } from '../resolvers/adapters/store/dynamodb-secret-store.ts';
import { DynamoDbDeviceStore } from '../resolvers/adapters/store/dynamodb-store.ts';
import { systemClock, systemRandom } from '../resolvers/adapters/system.ts';
import type { CoreContext, CoreSettings } from '../resolvers/core/context.ts';
import type { Telemetry } from '../resolvers/core/ports.ts';
import { LOCAL_ACCOUNT_ID } from './credentials.ts';
import { ensureTable, startDynalite } from './dynalite.ts';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_TABLE_NAME = 'cvm-devices';
export const LOCAL_POLICY_NAME = 'cvm-device';

export interface LocalCoreOptions {
  /** Holds `dynamodb/` and `iot/`. */
  readonly dataDir: string;
  readonly settings: CoreSettings;
  readonly telemetry: Telemetry;
  /** What requestCertificate tells a device about the endpoint. Default: the device CA, no IoT endpoint. */
  readonly endpoint?: EndpointInfo;
}

export interface LocalCore {
  readonly ctx: CoreContext;
  readonly authority: OpenedLocalCertificateAuthority;
  close(): Promise<void>;
}

export async function openLocalCore(options: LocalCoreOptions): Promise<LocalCore> {
  const authority = await openLocalCertificateAuthority(path.join(options.dataDir, 'iot'), {
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    policyName: LOCAL_POLICY_NAME,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
  });
  const dynalite = await startDynalite({ path: path.join(options.dataDir, 'dynamodb') });
  try {
    await ensureTable(dynalite.client, LOCAL_TABLE_NAME);
  } catch (error) {
    await dynalite.close();
    throw error;
  }
  const store = new DynamoDbDeviceStore({ client: dynalite.client, tableName: LOCAL_TABLE_NAME });
  const ctx: CoreContext = {
    store,
    secrets: new DynamoDbSecretStore({ client: dynalite.client, tableName: LOCAL_TABLE_NAME }),
    authority: authority.authority,
    clock: systemClock,
    random: systemRandom,
    telemetry: options.telemetry,
    settings: options.settings,
  };
  return {
    ctx,
    authority,
    close: async () => {
      await dynalite.close();
      // Stores what is still queued and releases the journal's file.
      await authority.authority.registry.close();
    },
  };
}
