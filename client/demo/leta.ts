import type { LetsAppClient } from '../index.ts';
import { byId, formValues, showError } from './dom.ts';

/** Leta: save a Gemini key (sealed by the server, never shown again), ask, and watch the reply stream in. */
export class LetaView {
  constructor(
    private readonly client: LetsAppClient,
    private readonly me: string,
  ) {
    const keyForm = byId<HTMLFormElement>('leta-key');
    const askForm = byId<HTMLFormElement>('leta-ask');
    keyForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.saveKey(formValues(keyForm).apiKey ?? '', keyForm);
    });
    askForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const message = formValues(askForm).message ?? '';
      askForm.reset();
      void this.ask(message);
    });
    void this.showKeyStatus();
  }

  private async showKeyStatus(): Promise<void> {
    const status = byId('leta-key-status');
    try {
      const key = await this.client.api.request('get', '/api/users/{userId}/api-key', { params: { userId: this.me } });
      status.textContent = key.configured ? `key …${key.last4} (${key.status})` : 'no key yet';
    } catch (error) {
      showError(status, error);
    }
  }

  private async saveKey(apiKey: string, form: HTMLFormElement): Promise<void> {
    try {
      await this.client.api.request('put', '/api/users/{userId}/api-key', {
        params: { userId: this.me },
        body: { apiKey, provider: 'gemini' },
      });
      form.reset();
      await this.showKeyStatus();
    } catch (error) {
      showError(byId('leta-key-status'), error);
    }
  }

  private async ask(message: string): Promise<void> {
    const reply = byId('leta-reply');
    let deltas = 0;
    reply.dataset.state = 'streaming';
    reply.dataset.deltas = '0';
    reply.textContent = '…';
    try {
      const answer = await this.client.askLeta({ message }, (text) => {
        reply.textContent = text;
        reply.dataset.deltas = String(++deltas);
      });
      reply.textContent = answer.text;
      reply.dataset.state = 'done';
    } catch (error) {
      reply.dataset.state = 'error';
      showError(reply, error);
    }
  }
}
