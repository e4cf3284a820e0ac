import type { Contract, ResponseOf, RestClient } from './rest.ts';

export type DataExport = ResponseOf<Contract<'get', '/api/users/me/export/{id}'>>['export'];

/**
 * A copy of all of one's data (`client.dataExport`; GDPR Art. 15 and 20): ask, wait while the server makes it, download
 * one ZIP (README.txt describes its files). One an hour; the file is deleted a day after it was made (then 410).
 */
export class DataExportApi {
  constructor(private readonly api: RestClient) {}

  /** Asks for an export; it is `pending` until made. */
  async request(): Promise<DataExport> {
    return (await this.api.request('post', '/api/users/me/export')).export;
  }

  async status(id: string): Promise<DataExport> {
    return (await this.api.request('get', '/api/users/me/export/{id}', { params: { id } })).export;
  }

  /** The ZIP of a ready export. */
  async download(id: string): Promise<Blob> {
    return (await this.api.request('get', '/api/users/me/export/{id}/download', { params: { id } })) as Blob;
  }

  /** Asks, polls every `pollMs` until it is made (or failed: thrown), and downloads it. */
  async exportAll(options: { pollMs?: number; signal?: AbortSignal } = {}): Promise<{ export: DataExport; zip: Blob }> {
    let current = await this.request();
    while (current.status === 'pending') {
      options.signal?.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 1_000));
      current = await this.status(current.id);
    }
    if (current.status !== 'ready') throw new Error('The export failed; ask for a new one');
    return { export: current, zip: await this.download(current.id) };
  }
}
