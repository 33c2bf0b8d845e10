import { salesforce } from '../../shared/providers/salesforce';
import { ingestHandlerFromEnv } from './handler';

export const handler = ingestHandlerFromEnv(salesforce);
