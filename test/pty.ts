/**
 * A pseudo-terminal driver for tests: runs a command in a real pty (python3's `pty` module),
 * waits for expected text on the screen, types keystrokes, and returns the transcript and exit
 * code. `HAS_PTY` is false when python3 (with `pty`) is missing; tests then skip.
 */
import { spawn, spawnSync } from 'node:child_process';

export const KEY = {
  up: '\x1b[A',
  down: '\x1b[B',
  enter: '\r',
  ctrlC: '\x03',
} as const;

export const HAS_PTY: boolean = (() => {
  try {
    return spawnSync('python3', ['-c', 'import pty, termios, fcntl, select'], { stdio: 'ignore' }).status === 0;
  } catch {
    return false;
  }
})();

export interface Step {
  /** Wait until this text appears (escape codes stripped) after the previous step's match. */
  expect: string;
  /** Then type these keys, one write per element with a short pause between them. */
  send?: string | string[];
}

export interface PtyOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  steps: Step[];
  /** Give up on one `expect` after this many seconds (a hang guard, not an assertion). */
  stepTimeout?: number;
  cols?: number;
  rows?: number;
}

export interface PtyResult {
  code: number | null;
  /** Everything the program wrote, escape codes stripped. */
  transcript: string;
  /** Set when an expected text never appeared or the program did not exit. */
  error?: string;
}

const DRIVER = String.raw`
import fcntl, json, os, pty, re, select, signal, struct, sys, termios, time
spec = json.loads(sys.stdin.read())
ANSI = re.compile(r'\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Za-z0-9]|\x1b[=>78MDEc]')
pid, fd = pty.fork()
if pid == 0:
    os.chdir(spec['cwd'])
    os.execvpe(spec['argv'][0], spec['argv'], spec['env'])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', spec['rows'], spec['cols'], 0, 0))
buf = b''
eof = False
def pump(timeout):
    global buf, eof
    if eof:
        return
    r, _, _ = select.select([fd], [], [], timeout)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b''
        if not data:
            eof = True
        buf += data
def text():
    return ANSI.sub('', buf.decode('utf-8', 'replace'))
error = None
pos = 0
for step in spec['steps']:
    deadline = time.time() + spec['timeout']
    while True:
        t = text()
        i = t.find(step['expect'], pos)
        if i >= 0:
            pos = i + len(step['expect'])
            break
        if eof or time.time() > deadline:
            error = 'never saw %r' % step['expect']
            break
        pump(0.1)
    if error:
        break
    keys = step.get('send') or []
    if isinstance(keys, str):
        keys = [keys]
    for k in keys:
        time.sleep(0.08)
        os.write(fd, k.encode())
        pump(0)
deadline = time.time() + spec['timeout']
while not eof and time.time() < deadline:
    pump(0.1)
code = None
if not eof:
    error = error or 'the program did not exit'
    os.kill(pid, signal.SIGKILL)
elif error:
    os.kill(pid, signal.SIGKILL)
_, status = os.waitpid(pid, 0)
if os.WIFEXITED(status):
    code = os.WEXITSTATUS(status)
sys.stdout.write(json.dumps({'code': code, 'transcript': text(), 'error': error}))
`;

/** Run `argv` in a pseudo-terminal, following `steps`. */
export function runPty(argv: string[], o: PtyOptions): Promise<PtyResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, TERM: 'xterm-256color', ...o.env })) if (v !== undefined) env[k] = v;
  const spec = { argv, cwd: o.cwd, env, steps: o.steps, timeout: o.stepTimeout ?? 60, cols: o.cols ?? 160, rows: o.rows ?? 60 };
  return new Promise((resolve, reject) => {
    const p = spawn('python3', ['-c', DRIVER], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', reject);
    p.on('close', () => {
      try {
        const r = JSON.parse(out) as { code: number | null; transcript: string; error: string | null };
        resolve({ code: r.code, transcript: r.transcript, ...(r.error ? { error: r.error } : {}) });
      } catch {
        reject(new Error(`pty driver failed: ${err || out}`));
      }
    });
    p.stdin.end(JSON.stringify(spec));
  });
}
