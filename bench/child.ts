// Runs one case in a fresh process (own heap, own core): argv = case module
// name, options as JSON. Rows go back over the IPC channel.
import type { CaseOptions, Row } from './result';

async function main(): Promise<void> {
  const [name, json] = process.argv.slice(2);
  if (!name || !json || !process.send) throw new Error('usage: node bench/child.js <case> <options-json> (with an IPC channel)');
  const mod = (await import(`./cases/${name}`)) as { run(o: CaseOptions): Promise<Row[]> };
  const rows = await mod.run(JSON.parse(json) as CaseOptions);
  process.send(rows, () => process.exit(0));
}

main().catch((err) => {
  process.stderr.write(`bench child: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
