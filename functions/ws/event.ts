/** The parts of an API Gateway WebSocket event the handlers use ($connect also carries the query). */
export interface WebSocketEvent {
  requestContext: { connectionId: string; routeKey: string };
  queryStringParameters?: Record<string, string | undefined> | null;
  body?: string | null;
}

export interface WebSocketResult {
  statusCode: number;
  body?: string;
}
