// Socket.IO 4 with rooms: subscribe joins a room, publish emits to it.
import http from 'node:http';
import { Server } from 'socket.io';
import { reportReady } from './common.mjs';

const server = http.createServer();
const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false });
io.on('connection', (socket) => {
  socket.on('subscribe', (channel, ack) => {
    socket.join(channel);
    ack?.({ ok: true });
  });
  socket.on('publish', ({ channel, payload }) => io.to(channel).emit('message', { channel, payload }));
});
server.listen(0, '127.0.0.1', () => reportReady(server.address().port, '/'));
