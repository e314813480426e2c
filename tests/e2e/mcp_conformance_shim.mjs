// Preloaded (node --import) into the @modelcontextprotocol/conformance 0.1.12 process for its
// client scenarios. Its tools_call server keeps one SDK Server and connects it to a fresh
// stateless transport per POST; SDK 1.32 refuses a second connect ("Already connected to a
// transport"), so every client, the SDK's own included, got HTTP 500 on its second message
// (notifications/initialized). This restores the older SDKs' behaviour the suite was written
// against (connect replaces the transport), in the suite's process only; keel runs apart.
import { Protocol } from '@modelcontextprotocol/sdk/shared/protocol.js';

const connect = Protocol.prototype.connect;
Protocol.prototype.connect = function connectReplacing(transport) {
  this._transport = undefined;
  return connect.call(this, transport);
};
