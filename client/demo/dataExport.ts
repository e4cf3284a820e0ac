import type { LetsAppClient } from '../index.ts';
import { byId, showError } from './dom.ts';

/**
 * "Export my data": asks for the export, shows its progress, and saves the ZIP when it is made (one an hour; the
 * server keeps it a day). The status line says what happened, refusals included.
 */
export function wireDataExport(client: LetsAppClient): void {
  const button = byId<HTMLButtonElement>('export-data');
  const status = byId('export-status');
  button.addEventListener('click', () => {
    button.disabled = true;
    status.textContent = 'Making your export…';
    client.dataExport
      .exportAll({ pollMs: 500 })
      .then(({ export: made, zip }) => {
        const link = document.createElement('a');
        link.href = URL.createObjectURL(zip);
        link.download = `letsapp-export-${(made.completedAt ?? made.requestedAt).slice(0, 10)}.zip`;
        link.click();
        setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
        status.textContent = `Export saved (${Math.ceil((made.sizeBytes ?? 0) / 1024)} KB); the server deletes it ${new Date(made.expiresAt!).toLocaleString()}`;
      })
      .catch((error: unknown) => showError(status, error))
      .finally(() => {
        button.disabled = false;
      });
  });
}
