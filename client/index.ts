/**
 * The cvm client library: a device enrolls with `enrollDevice`, connects with `DeviceMqttSession` and rotates its
 * certificate with `rotateDevice`; admins call the API through `createAdminApi`.
 */
export { createGraphqlClient } from './graphql-client.ts';
export type {
  AwsCredentials,
  GraphqlAuth,
  GraphqlClient,
  GraphqlClientOptions,
  GraphqlVariables,
} from './graphql-client.ts';
export { enrollDevice, enrollmentFiles, ENROLLMENT_FILES } from './device-enroll.ts';
export type { DeviceMetadata, EnrollOptions, EnrollResult, EnrollmentFiles } from './device-enroll.ts';
export { KEY_TYPES } from './device-key.ts';
export type { KeyType } from './device-key.ts';
export { confirmCertificate, renewCertificate, requestCertificate } from './device-api.ts';
export { rotateDevice, rotationFiles, ROTATION_FILES, ROTATION_STEPS } from './device-rotate.ts';
export type {
  PendingCertificate,
  RotateOptions,
  RotateResult,
  RotationFiles,
  RotationStep,
  RotationStepName,
} from './device-rotate.ts';
export { checkOffline, checkOverMqtt } from './rotation-check.ts';
export type { CertificateCheck, MqttCheckOptions, OfflineCheckOptions } from './rotation-check.ts';
export type { DurableFiles } from './files.ts';
export { DeviceMqttError, DeviceMqttSession, IOT_MQTT_PORT, readDeviceCredentials } from './device-mqtt.ts';
export type { DeviceCredentials, MqttErrorType, MqttTarget, ReceivedMessage } from './device-mqtt.ts';
export type { RequestCertificateInput } from './device-api.ts';
export * from './admin-api.ts';
export * from './errors.ts';
export * from './types.ts';
export type { RetryOptions } from './retry.ts';
