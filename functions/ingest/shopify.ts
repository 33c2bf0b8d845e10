import { shopify } from '../../shared/providers/shopify';
import { ingestHandlerFromEnv } from './handler';

export const handler = ingestHandlerFromEnv(shopify);
