// Preloaded into Portkey's gateway by bench/run.sh (node --import): its start-server.js listens
// on every interface and takes no host option, so this binds it to 127.0.0.1; and it refuses
// any outgoing connection that is not to a loopback address, so the benchmark's peer can reach
// nothing but the mock upstream.
import net from 'node:net';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || typeof args[0] === 'string') {
    if (args[1] === undefined || typeof args[1] === 'function' || args[1] === '0.0.0.0' || args[1] === '::') {
      if (typeof args[1] !== 'function' && args.length > 1) args.splice(1, 1);
      args.splice(1, 0, '127.0.0.1');
    }
  } else if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let options = args[0];
  if (Array.isArray(options)) options = options[0];   // internal normalized form
  let host;
  if (options && typeof options === 'object') {
    if (options.path) return connect.apply(this, args);   // unix socket
    host = options.host;
  } else if (typeof args[1] === 'string') {
    host = args[1];
  }
  if (host === undefined) host = 'localhost';
  if (!LOOPBACK.has(String(host).toLowerCase())) {
    const error = new Error(`bench: refusing a connection to ${host} (loopback only)`);
    process.nextTick(() => this.destroy(error));
    return this;
  }
  return connect.apply(this, args);
};
