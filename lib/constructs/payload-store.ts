import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';

export interface PayloadStoreProps {
  /** Lifetime of a claim-check object (config `payloadRetentionDays`). */
  readonly payloadRetention: Duration;
  /** Lifetime of the server access log objects (the stack's log retention). */
  readonly accessLogRetention: Duration;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The claim-check store: payloads too large for an SQS message are written here by the ingest
 * functions and read back by the processors (see shared/stores/payload-store.ts). Private, TLS
 * only, SSE-S3, no versioning (objects are write-once per delivery and expire), server access logs
 * to a separate bucket.
 */
export class PayloadStore extends Construct {
  public readonly bucket: s3.Bucket;
  /** Receives the payload bucket's server access logs. */
  public readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: PayloadStoreProps) {
    super(scope, id);
    // Grant S3 log delivery through a bucket policy (what AWS recommends, and what works with
    // ACLs disabled) instead of the legacy LogDeliveryWrite ACL. Scoped to this construct.
    this.node.setContext(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);

    const destroy = props.removalPolicy === RemovalPolicy.DESTROY;
    const common = {
      // Server access logs can only be delivered to an SSE-S3 bucket; SSE-S3 for both keeps the
      // grants simple (no key policy) and the payloads are encrypted at rest all the same.
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: destroy,
    } satisfies s3.BucketProps;

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      ...common,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: props.accessLogRetention }],
    });
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is the server access log destination of the payload bucket; logging it into itself would log its own log deliveries, and another bucket would only move the question one level down.',
    });

    this.bucket = new s3.Bucket(this, 'Payloads', {
      ...common,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'payloads/',
      lifecycleRules: [
        {
          id: 'expire-claim-checks',
          expiration: props.payloadRetention,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
  }
}
