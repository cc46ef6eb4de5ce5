/** Environment variables the Lambda composition root reads (and nothing else reads env). */
export const LAMBDA_ENV = {
  tableName: 'CVM_TABLE_NAME',
  devicePolicyName: 'CVM_DEVICE_POLICY_NAME',
  /** Optional: prefix for thing names that default to the serial number. */
  thingNamePrefix: 'CVM_THING_NAME_PREFIX',
  /** Optional: default registration-token lifetime in seconds (7 days when unset). */
  tokenTtlSeconds: 'CVM_TOKEN_TTL_SECONDS',
  /** Optional: seconds a rotated device has to confirm its new certificate (7 days when unset). */
  rotationWindowSeconds: 'CVM_ROTATION_WINDOW_SECONDS',
} as const;
