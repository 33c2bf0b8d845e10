import { describe, expect, it } from 'vitest';
import { batchFrames, encodePush, serverMessage } from '../../../../shared/realtime/messages';

const at = new Date('2026-01-01T00:00:00Z');
const push = (id: string, padding = '') => encodePush(serverMessage('webhook-event', { id, padding }, at));

describe('batchFrames (the messages of a batched connection)', () => {
  it('packs pushes into one batch message, in order, that parses back to them', () => {
    const pushes = ['a', 'b', 'c'].map((id) => push(id));

    const frames = batchFrames(pushes, at);

    expect(frames).toHaveLength(1);
    expect(frames[0]?.pushes).toBe(3);
    expect(JSON.parse(frames[0]?.text ?? '')).toEqual({
      type: 'batch',
      data: pushes.map(({ text }) => JSON.parse(text)),
      timestamp: at.toISOString(),
    });
    expect(Buffer.from(frames[0]?.data ?? []).toString()).toBe(frames[0]?.text);
  });

  it('sends a lone push as itself, its bytes as encoded once, and nothing for no push', () => {
    const lone = push('a');
    const frames = batchFrames([lone], at);

    expect(frames).toEqual([{ text: lone.text, data: lone.data, pushes: 1 }]);
    expect(frames[0]?.data).toBe(lone.data);
    expect(batchFrames([], at)).toEqual([]);
  });

  it('starts a new message before one would exceed the size limit, each within it, none lost', () => {
    const pushes = ['a', 'b', 'c', 'd', 'e'].map((id) => push(id, 'x'.repeat(300)));
    const limit = 1000;

    const frames = batchFrames(pushes, at, limit);

    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) expect(Buffer.byteLength(frame.text)).toBeLessThanOrEqual(limit);
    const carried = frames.flatMap((frame) => {
      const message = JSON.parse(frame.text);
      return message.type === 'batch' ? message.data : [message];
    });
    expect(carried).toEqual(pushes.map(({ text }) => JSON.parse(text)));
    expect(frames.reduce((sum, frame) => sum + frame.pushes, 0)).toBe(5);
  });

  it('sends a push larger than the limit alone, as itself', () => {
    const big = push('big', 'x'.repeat(2000));

    const frames = batchFrames([push('a'), big, push('b')], at, 1000);

    expect(frames.map((frame) => frame.pushes)).toEqual([1, 1, 1]);
    expect(frames[1]?.text).toBe(big.text);
  });
});
