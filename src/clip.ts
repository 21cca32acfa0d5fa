/**
 * How an error message shows a value it was given: escaped as in JSON (so a newline or a quote
 * inside keeps the message on one line) and cut after `max` characters with '…', so a 5 MB cell
 * or environment value never turns into a 5 MB message. Imports nothing; docs/errors.md.
 */
export function clip(text: string, max = 40): string {
  const head = text.length > max ? text.slice(0, max) : text;
  const escaped = JSON.stringify(head).slice(1, -1);
  return escaped.length > max || text.length > max ? `${escaped.slice(0, max)}…` : escaped;
}

/** `clip(text)` in double quotes: how a message shows a value. */
export function quoted(text: string, max = 40): string {
  return `"${clip(text, max)}"`;
}

/**
 * Names in single quotes, comma-separated, cut with '… (N in all)' once they pass about
 * `budget` characters, so a header of 10,000 columns stays a short message.
 */
export function clippedList(names: readonly string[], budget = 120): string {
  const shown: string[] = [];
  let used = 0;
  for (const name of names) {
    const item = `'${clip(name)}'`;
    if (shown.length > 0 && used + item.length > budget) return `${shown.join(', ')}, … (${names.length} in all)`;
    shown.push(item);
    used += item.length + 2;
  }
  return shown.join(', ');
}
