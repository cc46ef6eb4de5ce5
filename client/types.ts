/** The API's types as a client sees them: the contract beside schema.graphql, nothing of the server's core. */
export { DEVICE_EVENT_TYPES, DEVICE_STATUSES } from '../contract/api-types.ts';
export type {
  CertificateGrant,
  ConfirmCertificateInput,
  Connection,
  Device,
  DeviceEvent,
  DeviceEventType,
  DeviceRegistration,
  DeviceStatus,
  OrphanedCertificate,
  ReconcileInput,
  ReconcileReport,
  RegisterDeviceInput,
  RenewCertificateInput,
  RequestCertificateInput,
} from '../contract/api-types.ts';
