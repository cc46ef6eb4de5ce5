/** The CDK app entry (cdk.json runs it with tsx). */
import { createCvmApp } from './cvm-app.ts';

createCvmApp().app.synth();
