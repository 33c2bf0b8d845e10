import { CustomResource, Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { deployTimeProvider } from './deploy-provider';
import { type FunctionDefaults, HouseFunction } from './house-function';
import type { Storage } from './storage';

export interface ConfigSecretsMigrationProps {
  readonly storage: Storage;
  readonly functionDefaults: FunctionDefaults;
}

/**
 * Encrypts, at deploy, the secrets of configs stored before they were encrypted
 * (functions/configs/encrypt-secrets.ts): a custom resource whose function may scan and update the
 * configs table and encrypt (never decrypt) config secrets with the secrets key. Once every config is
 * encrypted it has nothing to do; bump `Version` to run it again.
 */
export class ConfigSecretsMigration extends Construct {
  public readonly function: HouseFunction;

  constructor(scope: Construct, id: string, props: ConfigSecretsMigrationProps) {
    super(scope, id);
    const { storage } = props;
    this.function = new HouseFunction(this, 'Function', {
      entry: 'configs/encrypt-secrets.ts',
      serviceName: 'config-secrets',
      defaults: props.functionDefaults,
      description: 'Encrypts config secrets stored in plaintext before they were encrypted (deploy time)',
      timeout: Duration.minutes(5),
      environment: { CONFIGS_TABLE: storage.configs.tableName },
    });
    iam.Grant.addToPrincipal({
      grantee: this.function,
      actions: ['dynamodb:Scan', 'dynamodb:UpdateItem'],
      resourceArns: [storage.configs.tableArn],
    });
    iam.Grant.addToPrincipal({
      grantee: this.function,
      actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
      resourceArns: [storage.configsKey.keyArn],
    });
    storage.grantConfigSecrets(this.function, ['kms:Encrypt'], ['signing-secret', 'provider-credentials']);

    const provider = deployTimeProvider(
      this,
      'Provider',
      this.function,
      props.functionDefaults,
      'the config-secrets function',
    );

    new CustomResource(this, 'Encrypted', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::ConfigSecretsEncrypted',
      properties: { Version: '1', Table: storage.configs.tableName },
    });
  }
}
