/**
 * Codec: encode and decode ops/s, mqttkit against mqtt-packet, same packets.
 * Target: >= 3x mqtt-packet on PUBLISH encode and decode.
 */
import mqttPacket from 'mqtt-packet';
import {
  encode,
  type Packet,
  PacketDecoder,
  type ProtocolVersion,
  type PublishPacket,
} from '../src/codec/index.js';
import { compare, fromCompare, type Row, save, table } from './harness.js';

const topic = 'sensors/device-42/temperature';
const payload = Buffer.from('0123456789abcdef'); // 16 bytes
const userProperties: [string, string][] = [
  ['source', 'bench'],
  ['unit', 'celsius'],
];

interface Case {
  name: string;
  version: ProtocolVersion;
  ours: Packet;
  theirs: mqttPacket.Packet;
  target?: number;
}

function publish(qos: 0 | 1, version: ProtocolVersion): Case {
  const v5 = version === 5;
  return {
    name: `PUBLISH QoS ${qos} 16 B ${v5 ? 'v5 + 2 user props' : 'v3.1.1'}`,
    version,
    ours: {
      type: 'publish',
      topic,
      payload,
      qos,
      retain: false,
      dup: false,
      packetId: qos ? 42 : undefined,
      properties: v5 ? { userProperties } : undefined,
    },
    theirs: {
      cmd: 'publish',
      topic,
      payload,
      qos,
      retain: false,
      dup: false,
      messageId: qos ? 42 : undefined,
      properties: v5 ? { userProperties: Object.fromEntries(userProperties) } : undefined,
    } as mqttPacket.IPublishPacket,
    target: 3,
  };
}

const cases: Case[] = [
  publish(0, 4),
  publish(1, 4),
  publish(0, 5),
  publish(1, 5),
  {
    name: 'SUBSCRIBE 2 filters v5',
    version: 5,
    ours: {
      type: 'subscribe',
      packetId: 7,
      subscriptions: [
        { topicFilter: 'sensors/+/temperature', qos: 1 },
        { topicFilter: 'cmd/device-42/#', qos: 2, noLocal: true },
      ],
    },
    theirs: {
      cmd: 'subscribe',
      messageId: 7,
      subscriptions: [
        { topic: 'sensors/+/temperature', qos: 1 },
        { topic: 'cmd/device-42/#', qos: 2, nl: true },
      ],
    } as mqttPacket.ISubscribePacket,
  },
  {
    name: 'PUBACK v3.1.1',
    version: 4,
    ours: { type: 'puback', packetId: 42 },
    theirs: { cmd: 'puback', messageId: 42 },
  },
  {
    name: 'PUBACK v5',
    version: 5,
    ours: { type: 'puback', packetId: 42 },
    theirs: { cmd: 'puback', messageId: 42, reasonCode: 0 },
  },
];

let sink = 0;
const rows: Row[] = [];

for (const c of cases) {
  const opts = { protocolVersion: c.version };
  rows.push(
    compare(
      `encode ${c.name}`,
      () => (sink += encode(c.ours, c.version).length),
      'mqtt-packet',
      () => (sink += mqttPacket.generate(c.theirs, opts).length),
      { target: c.target },
    ),
  );
}

// The encoder remembers the last topic it validated; publishers that cycle
// through many topics do not get that shortcut, so measure that too.
{
  const many = Array.from({ length: 64 }, (_, i) => ({
    ...(publish(1, 4).ours as PublishPacket),
    topic: `sensors/device-${i}/temperature`,
  }));
  const theirs = many.map((p) => ({
    ...(publish(1, 4).theirs as mqttPacket.IPublishPacket),
    topic: p.topic,
  }));
  let i = 0;
  let j = 0;
  rows.push(
    compare(
      'encode PUBLISH QoS 1 16 B v3.1.1, 64 topics in turn',
      () => (sink += encode(many[i++ & 63], 4).length),
      'mqtt-packet',
      () => (sink += mqttPacket.generate(theirs[j++ & 63], { protocolVersion: 4 }).length),
      { target: 3 },
    ),
  );
}

for (const c of cases) {
  const bytes = encode(c.ours, c.version);
  const decoder = new PacketDecoder({ protocolVersion: c.version });
  const buf = Buffer.from(bytes);
  const parser = mqttPacket.parser({ protocolVersion: c.version });
  parser.on('packet', () => sink++);
  rows.push(
    compare(
      `decode ${c.name}`,
      () => (sink += decoder.push(buf).length),
      'mqtt-packet',
      () => parser.parse(buf),
      { target: c.target },
    ),
  );
}

// A socket read: 64 KiB of back-to-back QoS 1 publishes, cut at arbitrary points.
for (const version of [4, 5] as const) {
  const one = encode(publish(1, version).ours, version);
  const count = Math.floor((64 * 1024) / one.length);
  const stream = Buffer.concat(Array.from({ length: count }, () => one));
  const chunks = [stream.subarray(0, 20_000), stream.subarray(20_000, 45_001), stream.subarray(45_001)];
  const decoder = new PacketDecoder({ protocolVersion: version });
  const parser = mqttPacket.parser({ protocolVersion: version });
  parser.on('packet', () => sink++);
  rows.push(
    compare(
      `decode stream of PUBLISH QoS 1 ${version === 5 ? 'v5' : 'v3.1.1'}, 64 KiB reads (packets/s)`,
      () => {
        for (const ch of chunks) sink += decoder.push(ch).length;
      },
      'mqtt-packet',
      () => {
        for (const ch of chunks) parser.parse(ch);
      },
      { opsPerCall: count, target: 3 },
    ),
  );
}

if (sink === 0) throw new Error('nothing was measured');
console.log(table(rows));
save(
  'codec',
  rows.map((r) => fromCompare(r)),
);
