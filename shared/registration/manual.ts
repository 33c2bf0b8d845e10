import type { ProviderName } from '../envelope';

/** What the user must do by hand when we cannot (Salesforce) or may not (no credentials) subscribe for them. */
export function manualInstructions(
  provider: ProviderName,
  events: readonly string[],
  endpointUrl: string,
): string {
  const list = events.length > 0 ? events.join(', ') : 'the events you need';
  switch (provider) {
    case 'salesforce':
      return [
        `Salesforce is set up in your org, not by us: send changes (${list}) to ${endpointUrl} in one of these ways.`,
        `1) Flow HTTP callout: create a Named Credential for ${endpointUrl} that adds "Authorization: Bearer <JWT>" (HS256 JWT signed with this webhook's secret, with iat and exp at most 5 minutes apart, and optionally body_sha256, the hex SHA-256 of the body), and POST the record change as JSON from a record-triggered Flow.`,
        `2) Change Data Capture: enable CDC for the objects (Setup > Change Data Capture) and relay the change events from a Pub/Sub API subscriber to ${endpointUrl} with the same JWT bearer header.`,
        '3) Outbound Messages: in Setup > Outbound Messages create a message per object with the outbound_message_url of this response as Endpoint URL (it carries a token derived from the secret: keep it as secret as the secret) and trigger it from a Flow; the first one binds this webhook to your org, and messages from any other org are refused.',
      ].join('\n');
    case 'shopify':
      return [
        `Create a Shopify webhook for each event (${list}) that delivers JSON to ${endpointUrl}:`,
        'in the Shopify admin under Settings > Notifications > Webhooks, or with the Admin GraphQL webhookSubscriptionCreate mutation from your app.',
        "Admin-created webhooks are signed with the key shown on that page; use it as this webhook's secret.",
        'Or register again with provider_credentials {provider: "shopify", shop_domain, access_token} to have it done for you.',
      ].join('\n');
    case 'hubspot':
      return [
        `In your HubSpot developer account open the app's Webhooks settings, set the target URL to ${endpointUrl}`,
        `and create and activate a subscription for each event (${list}); propertyChange events need the property name.`,
        'The target URL applies to every subscription of that app.',
        'Or register again with provider_credentials {provider: "hubspot", app_id, developer_api_key} to have it done for you.',
      ].join('\n');
  }
}
