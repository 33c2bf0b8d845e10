import { hubspot } from '../../shared/providers/hubspot';
import { ingestHandlerFromEnv } from './handler';

export const handler = ingestHandlerFromEnv(hubspot);
