import type { LetsAppClient } from '../client.ts';
import { h, showError } from './dom.ts';

/**
 * A search box at the top of the sidebar: GET /api/search through the typed client; each result shows its excerpt with
 * the matched words in <mark> (the server sends pieces, never markup, so text is set as text).
 */
export class SearchView {
  private readonly input = h('input', {
    type: 'search',
    name: 'q',
    placeholder: 'Search messages',
    'aria-label': 'Search messages',
    'data-testid': 'search-input',
  });
  private readonly results = h('ol', { class: 'search-results', 'data-testid': 'search-results' });
  private readonly error = h('p', { class: 'error', role: 'alert', 'data-testid': 'search-error' });

  constructor(private readonly client: LetsAppClient) {
    const form = h('form', { class: 'search', 'data-testid': 'search' }, this.input, h('button', { type: 'submit' }, 'Search'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.search(this.input.value.trim());
    });
    const section = h('section', { class: 'search-panel' }, form, this.error, this.results);
    (document.querySelector('aside') ?? document.body).prepend(section);
  }

  private async search(q: string): Promise<void> {
    this.error.textContent = '';
    if (q === '') return void this.results.replaceChildren();
    try {
      const page = await this.client.search.messages(q, { limit: 20 });
      this.results.replaceChildren(
        ...(page.results.length === 0
          ? [h('li', { class: 'muted' }, 'No messages found')]
          : page.results.map((hit) =>
              h(
                'li',
                { 'data-testid': 'search-result', 'data-message-id': hit.messageId },
                h('small', {}, new Date(hit.sentAt).toLocaleString()),
                h('p', {}, ...hit.snippet.map((piece) => (piece.match ? h('mark', {}, piece.text) : piece.text))),
              ),
            )),
      );
    } catch (failure) {
      showError(this.error, failure);
    }
  }
}
