import type { Contract, ResponseOf, RestClient } from './rest.ts';

export type Webhook = ResponseOf<Contract<'get', '/api/webhooks/{webhookId}'>>['webhook'];
export type WebhookRegistration = Contract<'post', '/api/webhooks'>['body'];
export type WebhookChanges = Contract<'patch', '/api/webhooks/{webhookId}'>['body'];
export type WebhookDeliveriesPage = ResponseOf<Contract<'get', '/api/webhooks/{webhookId}/deliveries'>>;
export type WebhookDelivery = WebhookDeliveriesPage['deliveries'][number];

/** Outgoing webhooks (`client.webhooks`): register, change, rotate the secret, delete, and page the delivery log. */
export class WebhooksApi {
  constructor(private readonly api: RestClient) {}

  /** The secret is in this answer only: keep it where the receiver can verify signatures with it. */
  async register(registration: WebhookRegistration): Promise<{ webhook: Webhook; secret: string }> {
    return this.api.request('post', '/api/webhooks', { body: registration });
  }

  async list(): Promise<Webhook[]> {
    return (await this.api.request('get', '/api/webhooks')).webhooks;
  }

  async get(webhookId: string): Promise<Webhook> {
    return (await this.api.request('get', '/api/webhooks/{webhookId}', { params: { webhookId } })).webhook;
  }

  /** `enabled: true` re-enables one disabled after failures. */
  async update(webhookId: string, changes: WebhookChanges): Promise<Webhook> {
    return (await this.api.request('patch', '/api/webhooks/{webhookId}', { params: { webhookId }, body: changes })).webhook;
  }

  async delete(webhookId: string): Promise<void> {
    await this.api.request('delete', '/api/webhooks/{webhookId}', { params: { webhookId } });
  }

  async rotateSecret(webhookId: string): Promise<string> {
    return (await this.api.request('post', '/api/webhooks/{webhookId}/rotate-secret', { params: { webhookId } })).secret;
  }

  /** Newest first; pass the page's `nextBefore` as `before` for the next. */
  async deliveries(webhookId: string, page: { before?: string; limit?: number } = {}): Promise<WebhookDeliveriesPage> {
    return this.api.request('get', '/api/webhooks/{webhookId}/deliveries', { params: { webhookId }, query: page });
  }
}
