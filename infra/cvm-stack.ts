/** The deployable cvm stack: the construct and what an operator needs from it as outputs. */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CertificateVendingMachine, type CertificateVendingMachineProps } from './certificate-vending-machine.ts';

export interface CvmStackProps extends StackProps {
  readonly cvm?: CertificateVendingMachineProps;
}

export class CvmStack extends Stack {
  readonly cvm: CertificateVendingMachine;

  constructor(scope: Construct, id: string, props: CvmStackProps = {}) {
    super(scope, id, props);
    this.cvm = new CertificateVendingMachine(this, 'Cvm', props.cvm);

    new CfnOutput(this, 'GraphqlUrl', { value: this.cvm.api.graphqlUrl, description: 'The GraphQL endpoint' });
    new CfnOutput(this, 'GraphqlApiId', { value: this.cvm.api.apiId, description: 'The AppSync API id' });
    new CfnOutput(this, 'ApiKeyId', {
      // AppSync's API key id is the value devices send as x-api-key. It only opens requestCertificate; what
      // protects enrollment is each device's one-time registration token.
      value: this.cvm.apiKey.attrApiKeyId,
      description: 'The device API key (x-api-key); only requestCertificate accepts it',
    });
    new CfnOutput(this, 'TableName', { value: this.cvm.table.tableName, description: 'The device table' });
    new CfnOutput(this, 'DevicePolicyName', {
      value: this.cvm.devicePolicyName,
      description: 'The AWS IoT policy attached to issued certificates',
    });
    if (this.cvm.webAclArn !== undefined) {
      new CfnOutput(this, 'WebAclArn', {
        value: this.cvm.webAclArn,
        description: 'The AWS WAF web ACL in front of the API (rate limit): for its metrics and sampled requests',
      });
    }
  }
}
