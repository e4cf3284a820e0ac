import test from 'ava';
import { ConflictError } from '../../commands/shared/errors.ts';
import { identityClaimDecider, type IdentityClaimEvent } from '../../commands/identityClaims.ts';
import { metadata, spec } from '../helpers/spec.ts';

const claims = spec(identityClaimDecider);
const claimedAt = '2026-01-01T00:00:00.000Z';
const claimedByA: IdentityClaimEvent = { type: 'IdentityClaimed', data: { kind: 'email', ownerId: 'a', claimedAt } };
const claim = (ownerId: string, now: string, currentOwnerAbandoned = false) => ({
  type: 'ClaimIdentity' as const,
  data: { kind: 'email' as const, ownerId, currentOwnerAbandoned },
  metadata: metadata({ now }),
});

test('an unclaimed identity is claimed', (t) => {
  claims.given([]).when(claim('a', claimedAt)).then(t, [claimedByA]);
});

test('claiming an identity you already hold changes nothing', (t) => {
  claims.given([claimedByA]).when(claim('a', claimedAt)).then(t, []);
});

test('an identity held by a registered user cannot be claimed', (t) => {
  claims
    .given([claimedByA])
    .when(claim('b', '2026-02-01T00:00:00.000Z', false))
    .thenThrows(t, ConflictError, 'email_taken');
});

test("a fresh claim cannot be taken over, even if its owner's registration was voided", (t) => {
  claims
    .given([claimedByA])
    .when(claim('b', '2026-01-01T00:00:30.000Z', true))
    .thenThrows(t, ConflictError, 'email_taken');
});

test("a stale claim whose owner's registration was voided (older than a minute) can be taken over", (t) => {
  claims
    .given([claimedByA])
    .when(claim('b', '2026-01-01T00:01:00.000Z', true))
    .then(t, [{ type: 'IdentityClaimed', data: { kind: 'email', ownerId: 'b', claimedAt: '2026-01-01T00:01:00.000Z' } }]);
});

test('a released identity can be claimed by someone else', (t) => {
  claims
    .given([claimedByA, { type: 'IdentityReleased', data: { kind: 'email', ownerId: 'a', releasedAt: claimedAt } }])
    .when(claim('b', claimedAt))
    .then(t, [{ type: 'IdentityClaimed', data: { kind: 'email', ownerId: 'b', claimedAt } }]);
});

test('only the owner releases a claim', (t) => {
  claims
    .given([claimedByA])
    .when({ type: 'ReleaseIdentity', data: { kind: 'email', ownerId: 'b' }, metadata: metadata() })
    .then(t, []);
});
