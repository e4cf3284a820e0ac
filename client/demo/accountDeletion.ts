import type { LetsAppClient } from '../index.ts';
import { byId, showError } from './dom.ts';

/**
 * "Delete account": asks for the password (a token alone deletes nothing) and whether to erase the messages sent too,
 * then deletes the account (the session ends) or, with a confirmation window on the server, says when it happens and
 * offers to call it off.
 */
export function wireAccountDeletion(client: LetsAppClient): void {
  const button = byId<HTMLButtonElement>('delete-account');
  const cancel = byId<HTMLButtonElement>('cancel-deletion');
  const status = byId('deletion-status');
  button.addEventListener('click', () => {
    const password = window.prompt('Deleting your account cannot be undone. Your password:');
    if (!password) return;
    const erase = window.confirm('Also erase every message you sent? (Cancel keeps them for their recipients, from "Deleted account".)');
    button.disabled = true;
    client
      .deleteAccount(password, { messages: erase ? 'erase' : 'keep' })
      .then((scheduled) => {
        status.textContent = scheduled
          ? `Your account will be deleted ${new Date(scheduled.deleteAfter).toLocaleString()}`
          : 'Account deleted';
        cancel.hidden = !scheduled;
      })
      .catch((error: unknown) => showError(status, error))
      .finally(() => {
        button.disabled = false;
      });
  });
  cancel.addEventListener('click', () => {
    client
      .cancelAccountDeletion()
      .then(() => {
        status.textContent = 'Deletion called off';
        cancel.hidden = true;
      })
      .catch((error: unknown) => showError(status, error));
  });
}
