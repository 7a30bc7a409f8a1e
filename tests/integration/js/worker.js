// A worker written in JavaScript that joins an ENoTime system over RabbitMQ, using only an
// AMQP client (amqplib), JSON and Node's built-in AES-256-GCM — the wire format in
// docs/wire.md, nothing else. It serves the service SERVICE:
//
//   test.js.Greet v1 {name}  ->  calls back the Python service CALLBACK_SERVICE with
//   test.py.Shout v1 {text: "hello <name>"} (same request context, same deadline), and
//   answers test.js.Greeting v1 {text: <the Python reply's text>, via: "node"}.
//
// Configuration from the environment: AMQP_URL, EXCHANGE, SERVICE, CALLBACK_SERVICE,
// MAX_DELIVERIES, and ENOTIME_WIRE_KEYS ("kid:base64key[,...]", the first encrypts).
// Prints "ready" on stdout once it consumes; exits on SIGTERM.
'use strict';

const crypto = require('node:crypto');
const amqp = require('amqplib');

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const EXCHANGE = env('EXCHANGE');
const SERVICE = env('SERVICE');
const CALLBACK_SERVICE = env('CALLBACK_SERVICE');
const MAX_DELIVERIES = Number(env('MAX_DELIVERIES'));
const KEYS = new Map(
  env('ENOTIME_WIRE_KEYS').split(',').map((item) => {
    const [kid, b64] = item.split(':');
    return [kid, Buffer.from(b64, 'base64')];
  }),
);
const CURRENT_KID = env('ENOTIME_WIRE_KEYS').split(':')[0];

// -- the envelope (docs/wire.md, "Encryption") -------------------------------------------

function associatedData(f) {
  const fields = [
    'enotime-wire-1', f.kind, f.exchange, f.routingKey, f.to, String(f.deadline),
    f.correlationId, f.replyTo, f.messageId, f.kid,
  ];
  return Buffer.concat(fields.flatMap((field) => {
    const bytes = Buffer.from(field, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return [length, bytes];
  }));
}

function seal(document, f) {
  const messageId = crypto.randomBytes(16).toString('hex');
  const fields = { ...f, kid: CURRENT_KID, messageId };
  const nonce = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', KEYS.get(CURRENT_KID), nonce);
  cipher.setAAD(associatedData(fields));
  const body = Buffer.concat([
    nonce, cipher.update(JSON.stringify(document), 'utf8'), cipher.final(), cipher.getAuthTag(),
  ]);
  const headers = { 'enotime-wire': 1, 'enotime-kind': f.kind, 'enotime-kid': CURRENT_KID };
  if (f.to) headers['enotime-to'] = f.to;
  if (f.deadline) headers['enotime-deadline'] = f.deadline;
  const options = { headers, messageId, contentType: 'application/octet-stream' };
  if (f.correlationId) options.correlationId = f.correlationId;
  if (f.replyTo) options.replyTo = f.replyTo;
  return { body, options };
}

function open(msg) {
  const h = msg.properties.headers || {};
  if (Number(h['enotime-wire']) !== 1) throw new Error('not enotime wire version 1');
  const kid = String(h['enotime-kid'] || '');
  const key = KEYS.get(kid);
  if (!key) throw new Error(`unknown key id ${kid}`);
  const body = msg.content;
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, body.subarray(0, 12));
  decipher.setAAD(associatedData({
    kind: String(h['enotime-kind'] || ''),
    exchange: msg.fields.exchange,
    routingKey: msg.fields.routingKey,
    to: String(h['enotime-to'] || ''),
    deadline: Number(h['enotime-deadline'] || 0),
    correlationId: msg.properties.correlationId || '',
    replyTo: msg.properties.replyTo || '',
    messageId: msg.properties.messageId || '',
    kid,
  }));
  decipher.setAuthTag(body.subarray(body.length - 16));
  const plaintext = Buffer.concat([decipher.update(body.subarray(12, body.length - 16)), decipher.final()]);
  return { kind: String(h['enotime-kind']), deadline: Number(h['enotime-deadline'] || 0), document: JSON.parse(plaintext.toString('utf8')) };
}

// -- the worker --------------------------------------------------------------------------

async function main() {
  const connection = await amqp.connect(env('AMQP_URL'));
  const channel = await connection.createConfirmChannel();
  await channel.prefetch(16);
  const workQueueArgs = {
    'x-queue-type': 'quorum',
    'x-dead-letter-exchange': `${EXCHANGE}.dlx`,
    'x-delivery-limit': MAX_DELIVERIES,
  };
  await channel.assertExchange(EXCHANGE, 'direct', { durable: true });
  const serviceQueue = `${EXCHANGE}.service.${SERVICE}`;
  await channel.assertQueue(serviceQueue, { durable: true, arguments: workQueueArgs });
  await channel.bindQueue(serviceQueue, EXCHANGE, `service.${SERVICE}`);
  const replyQueue = `${EXCHANGE}.reply.js.${crypto.randomBytes(6).toString('hex')}`;
  await channel.assertQueue(replyQueue, { exclusive: true, autoDelete: true });

  const pending = new Map();
  channel.on('return', (msg) => {
    const waiter = pending.get(msg.properties.correlationId);
    if (waiter) waiter.reject(new Error(`unroutable: ${msg.fields.routingKey}`));
  });
  await channel.consume(replyQueue, (msg) => {
    const waiter = pending.get(msg.properties.correlationId);
    if (!waiter) return;
    try {
      const { kind, document } = open(msg);
      if (kind === 'error') waiter.reject(new Error(`${document.error}: ${document.message}`));
      else waiter.resolve(document);
    } catch (err) {
      waiter.reject(err);
    }
  }, { noAck: true });

  const publish = (exchange, routingKey, sealed, mandatory) => new Promise((resolve, reject) => {
    channel.publish(exchange, routingKey, sealed.body, { ...sealed.options, mandatory },
      (err) => (err ? reject(err) : resolve()));
  });

  async function call(service, document, deadline) {
    const correlationId = crypto.randomBytes(16).toString('hex');
    const routingKey = `service.${service}`;
    const sealed = seal(document, {
      kind: 'call', exchange: EXCHANGE, routingKey, to: '', deadline, correlationId, replyTo: replyQueue,
    });
    const reply = new Promise((resolve, reject) => pending.set(correlationId, { resolve, reject }));
    try {
      await publish(EXCHANGE, routingKey, sealed, true);
      return await reply;
    } finally {
      pending.delete(correlationId);
    }
  }

  async function answer(msg, kind, document) {
    const sealed = seal(document, {
      kind, exchange: '', routingKey: msg.properties.replyTo, to: '', deadline: 0,
      correlationId: msg.properties.correlationId, replyTo: '',
    });
    await publish('', msg.properties.replyTo, sealed, false); // replies: mandatory=false
  }

  await channel.consume(serviceQueue, async (msg) => {
    let request;
    try {
      request = open(msg);
    } catch (err) {
      console.error(`worker.js: undecodable message: ${err.message}`);
      channel.nack(msg, false, false); // the queue's dead-letter exchange takes it
      return;
    }
    try {
      const { type, v, body, ctx } = request.document;
      if (type !== 'test.js.Greet' || v !== 1) throw new Error(`unknown message ${type} v${v}`);
      const shouted = await call(CALLBACK_SERVICE, {
        type: 'test.py.Shout', v: 1, body: { text: `hello ${body.name}` }, ctx,
      }, request.deadline);
      if (request.kind === 'call') {
        await answer(msg, 'reply', {
          type: 'test.js.Greeting', v: 1, body: { text: shouted.body.text, via: 'node' },
        });
      }
    } catch (err) {
      if (request.kind === 'call') await answer(msg, 'error', { error: 'js.Error', message: String(err.message) });
    }
    channel.ack(msg); // after the work is done: at least once
  }, { noAck: false });

  process.on('SIGTERM', async () => {
    try { await connection.close(); } finally { process.exit(0); }
  });
  process.stdout.write('ready\n');
}

main().catch((err) => {
  console.error(`worker.js: ${err.stack || err}`);
  process.exit(1);
});
