import type { LetsAppClient } from '../index.ts';

interface Person {
  displayName: string;
  avatarMediaId: string | null;
}

/**
 * Names and pictures of other users and names of groups, asked once each and kept for the page's life (a profile
 * change arrives as `user.updated`): group messages, the typing line and an incoming call all name someone.
 */
export class People {
  private readonly people = new Map<string, Promise<Person | null>>();
  private readonly groups = new Map<string, Promise<string | null>>();

  constructor(private readonly client: LetsAppClient) {
    client.on('user.updated', ({ userId, profile }) => {
      this.people.set(userId, Promise.resolve({ displayName: profile.displayName, avatarMediaId: profile.avatarMediaId }));
    });
    client.on('group.updated', (frame) => {
      if (frame.group) this.groups.set(frame.groupId, Promise.resolve(frame.group.name));
    });
  }

  person(userId: string): Promise<Person | null> {
    let person = this.people.get(userId);
    if (!person) {
      person = this.client.api.request('get', '/api/users/{id}', { params: { id: userId } }).then(
        ({ user }) => ({ displayName: user.displayName, avatarMediaId: user.avatarMediaId }),
        () => null,
      );
      this.people.set(userId, person);
    }
    return person;
  }

  async name(userId: string): Promise<string> {
    return (await this.person(userId))?.displayName ?? 'Someone';
  }

  async groupName(groupId: string): Promise<string> {
    let name = this.groups.get(groupId);
    if (!name) {
      name = this.client.api.request('get', '/api/groups/{id}', { params: { id: groupId } }).then(
        ({ group }) => group.name,
        () => null,
      );
      this.groups.set(groupId, name);
    }
    return (await name) ?? 'a group';
  }
}
