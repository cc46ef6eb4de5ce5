/**
 * Typed calls for every admin field of schema.graphql, over a GraphqlClient signed with IAM credentials.
 * AWSJSON travels as a JSON string: inputs are stringified here and outputs parsed, so callers see objects.
 */
import type { GraphqlClient } from './graphql-client.ts';
import { DEVICE_FIELDS, fromWireDevice, parseAwsJsonObject, type WireDevice } from './wire.ts';
import type {
  Connection,
  Device,
  DeviceEvent,
  DeviceRegistration,
  DeviceStatus,
  ReconcileReport,
  RegisterDeviceInput,
} from './types.ts';

/** registerDevices takes at most this many devices per call (the server's limit). */
export const MAX_REGISTER_BATCH = 100;
/** The largest page `devices` and `deviceEvents` serve. */
export const MAX_PAGE_SIZE = 100;

const REGISTRATION_FIELDS = `registrationToken tokenExpiresAt device { ${DEVICE_FIELDS} }`;
const EVENT_FIELDS = 'serialNumber type at actor details';

const REGISTER_DEVICE = `mutation RegisterDevice($input: RegisterDeviceInput!) {
  registerDevice(input: $input) { ${REGISTRATION_FIELDS} }
}`;
const REGISTER_DEVICES = `mutation RegisterDevices($input: [RegisterDeviceInput!]!) {
  registerDevices(input: $input) { ${REGISTRATION_FIELDS} }
}`;
const GET_DEVICE = `query Device($serialNumber: String!) {
  device(serialNumber: $serialNumber) { ${DEVICE_FIELDS} }
}`;
const LIST_DEVICES = `query Devices($status: DeviceStatus, $rotationPending: Boolean, $limit: Int, $nextToken: String) {
  devices(status: $status, rotationPending: $rotationPending, limit: $limit, nextToken: $nextToken) {
    items { ${DEVICE_FIELDS} } nextToken
  }
}`;
const DEVICE_EVENTS = `query DeviceEvents($serialNumber: String!, $limit: Int, $nextToken: String) {
  deviceEvents(serialNumber: $serialNumber, limit: $limit, nextToken: $nextToken) { items { ${EVENT_FIELDS} } nextToken }
}`;
const REVOKE_CERTIFICATE = `mutation RevokeCertificate($serialNumber: String!, $reason: String) {
  revokeCertificate(serialNumber: $serialNumber, reason: $reason) { ${DEVICE_FIELDS} }
}`;
const RESET_DEVICE = `mutation ResetDevice($serialNumber: String!, $tokenTtlSeconds: Int, $publicKey: String) {
  resetDevice(serialNumber: $serialNumber, tokenTtlSeconds: $tokenTtlSeconds, publicKey: $publicKey) { ${REGISTRATION_FIELDS} }
}`;

const PIN_PUBLIC_KEY = `mutation PinPublicKey($serialNumber: String!, $publicKey: String) {
  pinPublicKey(serialNumber: $serialNumber, publicKey: $publicKey) { ${DEVICE_FIELDS} }
}`;
const RECONCILE = `mutation Reconcile($input: ReconcileInput) {
  reconcile(input: $input) { scanned orphans { certificateId serialNumber status action } repaired rotationsSettled }
}`;

export interface PageOptions {
  /** 1-100; the server's default is 25. */
  readonly limit?: number;
  readonly nextToken?: string;
}

export interface ListDevicesOptions extends PageOptions {
  readonly status?: DeviceStatus;
  /** Only devices with a certificate rotation awaiting confirmation, soonest deadline first (not with status). */
  readonly rotationPending?: boolean;
}

export interface AllDevicesOptions {
  readonly status?: DeviceStatus;
  readonly rotationPending?: boolean;
  readonly pageSize?: number;
}

export interface ResetDeviceOptions {
  readonly tokenTtlSeconds?: number;
  /** PEM public key to pin instead of the current pin; without it the pin (if any) stays. */
  readonly publicKey?: string;
}

/** Every admin call bound to one client; what the CLI uses, and what its tests fake. */
export interface AdminApi {
  registerDevice(input: RegisterDeviceInput): Promise<DeviceRegistration>;
  registerDevices(inputs: readonly RegisterDeviceInput[]): Promise<DeviceRegistration[]>;
  getDevice(serialNumber: string): Promise<Device | null>;
  listDevices(options?: ListDevicesOptions): Promise<Connection<Device>>;
  allDevices(options?: AllDevicesOptions): AsyncGenerator<Device>;
  deviceEvents(serialNumber: string, options?: PageOptions): Promise<Connection<DeviceEvent>>;
  allDeviceEvents(serialNumber: string, options?: { pageSize?: number }): AsyncGenerator<DeviceEvent>;
  revokeCertificate(serialNumber: string, reason?: string): Promise<Device>;
  resetDevice(serialNumber: string, options?: ResetDeviceOptions): Promise<DeviceRegistration>;
  reconcile(options?: { dryRun?: boolean }): Promise<ReconcileReport>;
  pinPublicKey(serialNumber: string, publicKey: string | null): Promise<Device>;
}

export function createAdminApi(client: GraphqlClient): AdminApi {
  return {
    registerDevice: (input) => registerDevice(client, input),
    registerDevices: (inputs) => registerDevices(client, inputs),
    getDevice: (serialNumber) => getDevice(client, serialNumber),
    listDevices: (options) => listDevices(client, options),
    allDevices: (options) => allDevices(client, options),
    deviceEvents: (serialNumber, options) => deviceEvents(client, serialNumber, options),
    allDeviceEvents: (serialNumber, options) => allDeviceEvents(client, serialNumber, options),
    revokeCertificate: (serialNumber, reason) => revokeCertificate(client, serialNumber, reason),
    resetDevice: (serialNumber, options) => resetDevice(client, serialNumber, options),
    reconcile: (options) => reconcile(client, options),
    pinPublicKey: (serialNumber, publicKey) => pinPublicKey(client, serialNumber, publicKey),
  };
}

/** Remove what crashes left behind (orphaned certificates, abandoned claims); with dryRun, only report it. */
export async function reconcile(client: GraphqlClient, options: { dryRun?: boolean } = {}): Promise<ReconcileReport> {
  const data = await client.request<{ reconcile: ReconcileReport }>(RECONCILE, {
    input: { dryRun: options.dryRun === true },
  });
  return data.reconcile;
}

/** Register one device. The answer's registrationToken is the only copy there will ever be. */
export async function registerDevice(client: GraphqlClient, input: RegisterDeviceInput): Promise<DeviceRegistration> {
  const data = await client.request<{ registerDevice: WireRegistration }>(REGISTER_DEVICE, {
    input: toWireInput(input),
  });
  return fromWireRegistration(data.registerDevice);
}

/** Register up to 100 devices: all of them, or none (DeviceAlreadyExists) when any serial is taken. */
export async function registerDevices(
  client: GraphqlClient,
  inputs: readonly RegisterDeviceInput[],
): Promise<DeviceRegistration[]> {
  if (inputs.length > MAX_REGISTER_BATCH) {
    throw new RangeError(
      `registerDevices takes at most ${MAX_REGISTER_BATCH} devices per call (got ${inputs.length}).`,
    );
  }
  if (inputs.length === 0) return [];
  const data = await client.request<{ registerDevices: WireRegistration[] }>(REGISTER_DEVICES, {
    input: inputs.map(toWireInput),
  });
  return data.registerDevices.map(fromWireRegistration);
}

/** One device, or null when the serial is not registered. */
export async function getDevice(client: GraphqlClient, serialNumber: string): Promise<Device | null> {
  const data = await client.request<{ device: WireDevice | null }>(GET_DEVICE, { serialNumber });
  return data.device === null ? null : fromWireDevice(data.device);
}

/** One page of devices. */
export async function listDevices(
  client: GraphqlClient,
  options: ListDevicesOptions = {},
): Promise<Connection<Device>> {
  const data = await client.request<{ devices: Connection<WireDevice> }>(LIST_DEVICES, {
    status: options.status,
    rotationPending: options.rotationPending,
    limit: options.limit,
    nextToken: options.nextToken,
  });
  return { items: data.devices.items.map(fromWireDevice), nextToken: data.devices.nextToken ?? null };
}

/** Every device (of one status), fetching pages as the caller iterates. */
export async function* allDevices(client: GraphqlClient, options: AllDevicesOptions = {}): AsyncGenerator<Device> {
  let nextToken: string | undefined;
  do {
    const page = await listDevices(client, {
      limit: options.pageSize ?? MAX_PAGE_SIZE,
      ...(options.status === undefined ? {} : { status: options.status }),
      ...(options.rotationPending === undefined ? {} : { rotationPending: options.rotationPending }),
      ...(nextToken === undefined ? {} : { nextToken }),
    });
    yield* page.items;
    nextToken = page.nextToken ?? undefined;
  } while (nextToken !== undefined);
}

/** One page of a device's audit trail, newest first. */
export async function deviceEvents(
  client: GraphqlClient,
  serialNumber: string,
  options: PageOptions = {},
): Promise<Connection<DeviceEvent>> {
  const data = await client.request<{ deviceEvents: Connection<WireEvent> }>(DEVICE_EVENTS, {
    serialNumber,
    limit: options.limit,
    nextToken: options.nextToken,
  });
  return { items: data.deviceEvents.items.map(fromWireEvent), nextToken: data.deviceEvents.nextToken ?? null };
}

/** A device's whole audit trail, newest first, fetching pages as the caller iterates. */
export async function* allDeviceEvents(
  client: GraphqlClient,
  serialNumber: string,
  options: { pageSize?: number } = {},
): AsyncGenerator<DeviceEvent> {
  let nextToken: string | undefined;
  do {
    const page = await deviceEvents(client, serialNumber, {
      limit: options.pageSize ?? MAX_PAGE_SIZE,
      ...(nextToken === undefined ? {} : { nextToken }),
    });
    yield* page.items;
    nextToken = page.nextToken ?? undefined;
  } while (nextToken !== undefined);
}

/** Revoke the device's certificate and stop it from enrolling. Safe to repeat. */
export async function revokeCertificate(client: GraphqlClient, serialNumber: string, reason?: string): Promise<Device> {
  const data = await client.request<{ revokeCertificate: WireDevice }>(REVOKE_CERTIFICATE, { serialNumber, reason });
  return fromWireDevice(data.revokeCertificate);
}

/** Revoke any certificate, unlock, and issue a new one-time token; the pinned key stays unless replaced. */
export async function resetDevice(
  client: GraphqlClient,
  serialNumber: string,
  options: ResetDeviceOptions = {},
): Promise<DeviceRegistration> {
  const data = await client.request<{ resetDevice: WireRegistration }>(RESET_DEVICE, {
    serialNumber,
    tokenTtlSeconds: options.tokenTtlSeconds,
    publicKey: options.publicKey,
  });
  return fromWireRegistration(data.resetDevice);
}

/**
 * Pin the key of the device's next certificate (its enrollment, or its next renewal) to a PEM public key, or remove
 * the pin with null. The certificate the device has now is not touched.
 */
export async function pinPublicKey(
  client: GraphqlClient,
  serialNumber: string,
  publicKey: string | null,
): Promise<Device> {
  const data = await client.request<{ pinPublicKey: WireDevice }>(PIN_PUBLIC_KEY, { serialNumber, publicKey });
  return fromWireDevice(data.pinPublicKey);
}

type WireRegistration = Omit<DeviceRegistration, 'device'> & { readonly device: WireDevice };
type WireEvent = Omit<DeviceEvent, 'details'> & { readonly details?: unknown };

function toWireInput(input: RegisterDeviceInput): Record<string, unknown> {
  return {
    serialNumber: input.serialNumber,
    ...(input.thingName === undefined ? {} : { thingName: input.thingName }),
    ...(input.attributes === undefined ? {} : { attributes: JSON.stringify(input.attributes) }),
    ...(input.tokenTtlSeconds === undefined ? {} : { tokenTtlSeconds: input.tokenTtlSeconds }),
    ...(input.publicKey === undefined ? {} : { publicKey: input.publicKey }),
  };
}

function fromWireRegistration(registration: WireRegistration): DeviceRegistration {
  return { ...registration, device: fromWireDevice(registration.device) };
}

function fromWireEvent(event: WireEvent): DeviceEvent {
  return { ...event, details: parseAwsJsonObject(event.details, 'details') };
}
