// The WebSocket connection: JSON request/result frames matched by id, pushes
// handed to a callback, and the close reported once (protocol §2).

export class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data || null;
  }
}

export function wsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

export class Connection {
  constructor({ onPush, onClose }) {
    this.onPush = onPush;
    this.onClose = onClose;
    this.nextId = 1;
    this.pending = new Map();
    this.ws = null;
    this.closed = false;
  }

  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(wsUrl());
      this.ws = ws;
      ws.onopen = () => resolve(this);
      ws.onmessage = (event) => this.receive(event.data);
      ws.onclose = () => {
        const wasOpen = !this.closed;
        this.closed = true;
        for (const { reject: fail } of this.pending.values()) {
          fail(new RpcError('DISCONNECTED', 'the connection was lost'));
        }
        this.pending.clear();
        reject(new RpcError('DISCONNECTED', 'could not connect'));
        if (wasOpen) this.onClose(this);
      };
      // An error is always followed by close; the close handler reports it.
      ws.onerror = () => {};
    });
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.push) {
      this.onPush(frame);
      return;
    }
    const waiter = this.pending.get(frame.id);
    if (!waiter) return;
    this.pending.delete(frame.id);
    if (frame.error) {
      const { code, message, data } = frame.error;
      waiter.reject(new RpcError(code, message, data));
    } else {
      waiter.resolve(frame.result);
    }
  }

  call(method, params = {}) {
    if (this.closed || !this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RpcError('DISCONNECTED', 'not connected'));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close() {
    if (this.ws) this.ws.close(1000, 'bye');
  }
}
