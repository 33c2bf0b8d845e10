import { describe, expect, it, vi } from 'vitest';
import { startHosted } from '../../../local/hosted';
import type * as EchoPart from './fixtures/echo-part';

const ECHO_PART = new URL('./fixtures/echo-part.ts', import.meta.url);

/** Whether a process with this id still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('a part of the local stack in a process of its own', () => {
  it('starts from plain data, answers its operations and events, and ends with stop', async () => {
    const events: [string, unknown][] = [];
    const { process: hosted, ready } = await startHosted<typeof EchoPart>(
      'echo',
      ECHO_PART,
      { greeting: 'hello' },
      { onEvent: (event, data) => events.push([event, data]), priority: 5 },
    );
    try {
      expect(ready.greeting).toBe('hello');
      expect(ready.pid).toBe(hosted.pid);
      expect(ready.pid).not.toBe(process.pid);
      // Lower than this process: what the stack asks for its processors.
      expect(ready.priority).toBe(5);
      await expect(hosted.call('echo', 'world')).resolves.toBe('hello world');
      expect(events).toEqual([['echoed', 'world']]);
      await expect(hosted.call('fail')).rejects.toThrow('echo: as asked');
      await expect(hosted.call('nothing')).rejects.toThrow('No operation nothing');
    } finally {
      await hosted.stop();
    }
    expect(alive(ready.pid)).toBe(false);
    await expect(hosted.call('echo', 'again')).rejects.toThrow('echo process is not running');
  });

  it('tells the stack when the process dies unasked, and fails what was waiting for it', async () => {
    const exits: (number | null)[] = [];
    const { process: hosted, ready } = await startHosted<typeof EchoPart>(
      'echo',
      ECHO_PART,
      { greeting: 'hi' },
      { onExit: (code) => exits.push(code) },
    );
    process.kill(ready.pid, 'SIGKILL');
    await vi.waitFor(() => expect(exits).toHaveLength(1));
    await expect(hosted.call('echo', 'x')).rejects.toThrow('echo process is not running');
    await hosted.stop();
    expect(exits).toHaveLength(1);
  });
});
