import { ingestHandlerFromEnv } from './handler';

export const handler = ingestHandlerFromEnv('salesforce');
