/**
 * Text for a terminal, from values faceops does not control: folder and file names from a
 * repository, labels, paths, messages quoting them. A name holding ESC [ 31 m would recolour the
 * terminal, one holding a newline would forge a line of the report, and a right-to-left override
 * (U+202E) would show "gpj.exe" as "exe.jpg". Every text (non-JSON) output of the CLI goes through
 * here; JSON output needs nothing, JSON.stringify escapes control characters itself.
 *
 * Escaped, in the notation of JavaScript string literals: C0 and C1 control characters and DEL
 * (\n, \t, \r, \x1b, \x9b, ...), the bidirectional formatting characters (U+061C, U+200E, U+200F,
 * U+202A-U+202E, U+2066-U+2069), the line and paragraph separators U+2028 and U+2029, and lone
 * surrogates. Everything else, every script and the zero-width joiners some of them need, is
 * printed as it is. A backslash is left alone, so escaping twice changes nothing.
 */

const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

// Lone surrogates need the u flag's view of the string, where a valid pair is one code point.
const unsafe = /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]|\p{Cs}/gu;
const unsafeExceptNewline = /[^\P{Cc}\n]|[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]|\p{Cs}/gu;

function escapeCharacter(character: string): string {
  const known = named[character];
  if (known) return known;
  const code = character.codePointAt(0) as number;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** One value on one line: every control character escaped, newlines included. */
export function printable(value: string): string {
  return value.replace(unsafe, escapeCharacter);
}

/** A whole report or error message: its own line breaks kept, every other control character escaped. */
export function printableLines(text: string): string {
  return text.replace(unsafeExceptNewline, escapeCharacter);
}
