/**
 * The bench's baseline: a bare uWebSockets.js server that relays the same frames with no persistence, no
 * validation and no projection. What it reaches is this machine's ceiling for the socket path.
 * Protocol: `?user=<id>` on connect (and `&group=<id>` to join a group); a frame `{"to":[userIds],...}` or
 * `{"toGroup":<id>,...}` is acked to its sender and forwarded as is.
 */
import uWS from 'uWebSockets.js';

interface SocketData {
  userId: string;
  group: string;
}

const sockets = new Map<string, Set<uWS.WebSocket<SocketData>>>();
const groups = new Map<string, Set<uWS.WebSocket<SocketData>>>();
const app = uWS.App().ws<SocketData>('/ws', {
  maxPayloadLength: 64 * 1024,
  upgrade: (res, req, context) => {
    res.upgrade<SocketData>(
      { userId: req.getQuery('user') ?? '', group: req.getQuery('group') ?? '' },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    const { userId } = ws.getUserData();
    let set = sockets.get(userId);
    if (!set) sockets.set(userId, (set = new Set()));
    set.add(ws);
    const { group } = ws.getUserData();
    if (group) {
      let members = groups.get(group);
      if (!members) groups.set(group, (members = new Set()));
      members.add(ws);
    }
  },
  message: (ws, message) => {
    const text = Buffer.from(message).toString('utf8');
    const frame = JSON.parse(text) as { id: string; to?: string[]; toGroup?: string };
    ws.send(JSON.stringify({ type: 'ack', id: frame.id }));
    if (frame.toGroup !== undefined) for (const socket of groups.get(frame.toGroup) ?? []) socket.send(text);
    for (const userId of frame.to ?? []) for (const socket of sockets.get(userId) ?? []) socket.send(text);
  },
  close: (ws) => {
    sockets.get(ws.getUserData().userId)?.delete(ws);
    groups.get(ws.getUserData().group)?.delete(ws);
  },
});
app.listen('127.0.0.1', 0, (token) => {
  if (!token) process.exit(1);
  console.log(JSON.stringify({ msg: 'relay listening', port: uWS.us_socket_local_port(token) }));
});
