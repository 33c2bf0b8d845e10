import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { optionalEnv } from './env';
import { PayloadStore } from './stores/payload-store';

/** SDK clients are created once per process; endpoints come from the standard AWS_ENDPOINT_URL_* variables. */
export const dynamoDb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});

let sqs: SQSClient | undefined;
let eventBridge: EventBridgeClient | undefined;

/**
 * Created on first use rather than on import, so a function that never calls them (the bundles of
 * the ingest and WebSocket functions share this module) does not construct them.
 */
export function sqsClient(): SQSClient {
  sqs ??= new SQSClient({});
  return sqs;
}

/** The domain event bus's client (AWS_ENDPOINT_URL_EVENTBRIDGE points it at the local stand-in). */
export function eventBridgeClient(): EventBridgeClient {
  eventBridge ??= new EventBridgeClient({});
  return eventBridge;
}

/** The WebSocket API's management endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`). */
export function managementApi(endpoint: string): ApiGatewayManagementApiClient {
  return new ApiGatewayManagementApiClient({ endpoint });
}

/** The claim-check store, when PAYLOAD_BUCKET is configured. */
export function payloadStoreFromEnv(): PayloadStore | undefined {
  const bucket = optionalEnv('PAYLOAD_BUCKET');
  return bucket ? new PayloadStore(new S3Client({}), bucket) : undefined;
}
