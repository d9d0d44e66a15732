/** A test that awaits something that never comes: the runner's watchdog must stop the run. */
import { suite } from 'uvu';

const s = suite('harness: a stuck test');
s('never settles', async () => {
  setInterval(() => {}, 1000);
  await new Promise(() => {});
});
s.run();
