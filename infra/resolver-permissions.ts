/**
 * What the resolver Lambda may do: exactly the AWS calls its adapters make, on this account's and region's
 * resources only.
 *
 * Resource types per action come from the Service Authorization Reference for AWS IoT
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsiot.html):
 * - CreateCertificateFromCsr, DescribeEndpoint, ListCertificates (the reconciler): no resource type, so IAM
 *   accepts only `*`.
 * - UpdateCertificate, DeleteCertificate, DescribeCertificate: `cert`.
 * - CreateThing, UpdateThing: `thing`.
 * - AttachPolicy, DetachPolicy: the target (`cert` or `thinggroup`). The IoT policy itself is not a resource
 *   type of these actions, so IAM cannot pin which policy gets attached: the Lambda only ever names the
 *   configured device policy (CVM_DEVICE_POLICY_NAME). The policy's ARN is listed as well; it grants nothing
 *   beyond the `cert` grant and says in the template which policy is meant.
 * - AttachThingPrincipal, DetachThingPrincipal: `cert` (with the thing as the `iot:thingArn` condition key).
 *   `thing` is listed too, as AWS's own managed policies for this pair do; both are this account's only.
 * CreateKeysAndCertificate is deliberately absent: cvm never makes a key on the server.
 */
import { Aws } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';

/** Actions that AWS IoT authorizes on no resource, so IAM accepts only `Resource: *` for them. */
export const IOT_ACTIONS_WITHOUT_RESOURCE_TYPE = [
  'iot:CreateCertificateFromCsr',
  'iot:DescribeEndpoint',
  'iot:ListCertificates',
] as const;
export const IOT_CERTIFICATE_ACTIONS = ['iot:UpdateCertificate', 'iot:DeleteCertificate', 'iot:DescribeCertificate'];
export const IOT_THING_ACTIONS = ['iot:CreateThing', 'iot:UpdateThing'];
export const IOT_POLICY_ATTACHMENT_ACTIONS = ['iot:AttachPolicy', 'iot:DetachPolicy'];
export const IOT_THING_PRINCIPAL_ACTIONS = ['iot:AttachThingPrincipal', 'iot:DetachThingPrincipal'];

/** The single-item reads and conditional writes of the DynamoDB store (resolvers/adapters/store/dynamodb-store.ts). */
export const DYNAMODB_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:PutItem',
  // The enrollment's claim: one conditional write on the token, without reading first.
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
];
/** The status index is only ever queried (listByStatus). */
export const DYNAMODB_INDEX_ACTIONS = ['dynamodb:Query'];

/**
 * ARN of an AWS IoT resource in the deploying account and region. Always the pseudo-parameters, even when the
 * stack has a concrete env, so that the template (and the cdk-nag finding ids acknowledged for it) read the
 * same everywhere.
 */
export function iotArn(resource: string): string {
  return `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
}

export const IOT_CERTIFICATES_ARN = iotArn('cert/*');
export const IOT_THINGS_ARN = iotArn('thing/*');

export interface ResolverPermissionsOptions {
  readonly tableArn: string;
  /** The table's indexes the resolver queries (by status, by rotation work). */
  readonly indexNames: readonly string[];
  readonly devicePolicyName: string;
}

export function resolverPolicyStatements(options: ResolverPermissionsOptions): PolicyStatement[] {
  const { tableArn, indexNames, devicePolicyName } = options;
  return [
    new PolicyStatement({
      sid: 'IotActionsWithoutResourceLevelPermissions',
      actions: [...IOT_ACTIONS_WITHOUT_RESOURCE_TYPE],
      resources: ['*'],
    }),
    new PolicyStatement({
      sid: 'IotDeviceCertificates',
      actions: IOT_CERTIFICATE_ACTIONS,
      resources: [IOT_CERTIFICATES_ARN],
    }),
    new PolicyStatement({
      sid: 'IotThings',
      actions: IOT_THING_ACTIONS,
      resources: [IOT_THINGS_ARN],
    }),
    new PolicyStatement({
      sid: 'IotDevicePolicyAttachment',
      actions: IOT_POLICY_ATTACHMENT_ACTIONS,
      resources: [IOT_CERTIFICATES_ARN, iotArn(`policy/${devicePolicyName}`)],
    }),
    new PolicyStatement({
      sid: 'IotThingPrincipalAttachment',
      actions: IOT_THING_PRINCIPAL_ACTIONS,
      resources: [IOT_CERTIFICATES_ARN, IOT_THINGS_ARN],
    }),
    new PolicyStatement({
      sid: 'DeviceTable',
      actions: DYNAMODB_TABLE_ACTIONS,
      resources: [tableArn],
    }),
    new PolicyStatement({
      sid: 'DeviceTableIndexes',
      actions: DYNAMODB_INDEX_ACTIONS,
      resources: indexNames.map((indexName) => `${tableArn}/index/${indexName}`),
    }),
  ];
}
