/**
 * smol-toml's messages describe its parser ("control characters are not allowed in strings" for
 * a string left open at the end of a line). These turn the common mistakes into what the user did
 * and what was expected, from the line the error points at; anything else keeps the parser's words.
 */
import type { TomlError } from 'smol-toml';

const PREFIX = 'Invalid TOML document: ';
const VALUE_KINDS = 'a "quoted string", a number, true or false, an [array] or an { inline = "table" }';

export function explainTomlError(err: TomlError, text: string): string {
  const parserMessage = err.message.split('\n')[0]!.replace(PREFIX, '');
  const line = text.split(/\r?\n/)[err.line - 1] ?? '';
  const at = line.slice(err.column - 1);
  const trimmed = line.trim();
  const key = /^\s*("[^"]*"|'[^']*'|[^\s=]+)\s*=/.exec(line)?.[1];
  switch (parserMessage) {
    case 'control characters are not allowed in strings': {
      if (at === '' || at.startsWith('\r')) return `a string is not closed: expected its closing ${quoteOf(line, err.column)} before the end of the line`;
      const code = at.codePointAt(0)!.toString(16).padStart(4, '0');
      return `a string holds a control character (U+${code.toUpperCase()}): write it as the escape \\u${code}`;
    }
    case 'unfinished string':
      return 'a string is not closed: it runs to the end of the file; expected its closing quote';
    case 'illegal character in key':
      if (trimmed.startsWith('[[') && !trimmed.includes(']]')) return `the header ${JSON.stringify(trimmed)} is not closed: expected "]]" at the end of the line`;
      if (trimmed.startsWith('[') && !trimmed.includes(']')) return `the table header ${JSON.stringify(trimmed)} is not closed: expected "]" at the end of the line`;
      if (!line.includes('=')) return `expected "=" after the key on this line (each line is key = value), got ${JSON.stringify(trimmed.slice(0, 60))}`;
      return 'a key has a character a bare key cannot have: use letters, digits, "-" and "_", or put the key in quotes';
    case 'unexpected end of key':
      return 'a line starts with "=": expected a key before it';
    case 'invalid value':
      if (at.trim() === '' || at.trimStart().startsWith('#')) return `${key ? `${key} has ` : ''}no value after "=": expected ${VALUE_KINDS}`;
      return `${JSON.stringify(at.trim().slice(0, 40))} is not a TOML value: expected ${VALUE_KINDS} (text goes in quotes)`;
    case 'each key-value declaration must be followed by an end-of-line':
      return `something follows the value of ${key ?? 'this key'} on the same line: expected one key = value per line (text with spaces goes in quotes)`;
    case 'expected comma or end of structure':
      return 'an array or inline table is not closed, or two of its items have no "," between them: expected "," or the closing "]" or "}"';
    case 'trying to redefine an already defined table or value': {
      const header = /^(\[\[?)\s*([^\]]+?)\s*\]\]?/.exec(trimmed);
      if (header) {
        return `${header[1]}${header[2]}${header[1] === '[' ? ']' : ']]'} defines ${header[2]}, which is already defined above: ` +
          'a table appears once (a list of tables such as [[route]] takes double brackets every time)';
      }
      if (key !== undefined) return `${key} is set twice in the same table: each key appears once`;
      return 'a key or table is defined a second time: each appears once';
    }
    default:
      return parserMessage;
  }
}

/** The quote that opens the string left unclosed at `column` on `line`. */
function quoteOf(line: string, column: number): string {
  const before = line.slice(0, column - 1);
  const single = before.lastIndexOf("'");
  const double = before.lastIndexOf('"');
  return single > double ? "'" : '"';
}
