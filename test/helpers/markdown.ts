/**
 * Just enough of Markdown to check the repository's documentation: the links a page makes and the
 * anchors its headings get on GitHub. Text inside code (fenced blocks and `spans`) is not Markdown,
 * so a link written there is not a link, and a `#` line inside a fence is not a heading.
 */

/** One link of a page: where it points, and the line it is written on (for the failure message). */
export interface MarkdownLink {
  target: string;
  line: number;
}

/** Each line of a page outside fenced code blocks, with its 1-based number. */
function proseLines(markdown: string): { text: string; line: number }[] {
  const lines: { text: string; line: number }[] = [];
  let fence: string | null = null;
  markdown.split("\n").forEach((text, index) => {
    const opening = /^ {0,3}(`{3,}|~{3,})/.exec(text);
    if (fence === null && opening) fence = opening[1]!;
    else if (fence !== null && text.trimStart().startsWith(fence)) fence = null;
    else if (fence === null) lines.push({ text, line: index + 1 });
  });
  return lines;
}

/** A line with its code spans blanked out, so a link or heading text inside them is not read. */
function withoutCodeSpans(text: string): string {
  return text.replace(/(`+)[^`]*?\1/g, (span) => " ".repeat(span.length));
}

/**
 * The links a page makes: inline links and images (`[text](target "title")`, `![alt](target)`) and
 * reference definitions (`[name]: target`). A link wrapped across lines is not seen; the pages here
 * keep each link on one line.
 */
export function markdownLinks(markdown: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  for (const { text, line } of proseLines(markdown)) {
    const prose = withoutCodeSpans(text);
    for (const match of prose.matchAll(/\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ target: match[1]!.replace(/^<|>$/g, ""), line });
    }
    const reference = /^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(prose);
    if (reference) links.push({ target: reference[1]!.replace(/^<|>$/g, ""), line });
  }
  return links;
}

/** Whether a link leaves the repository (a URL with a scheme, or a protocol-relative one). */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//");
}

/**
 * The anchors GitHub gives a page's headings: the heading's text without its Markdown (code ticks,
 * emphasis, link syntax), lower-cased, with every character that is not a letter, a digit, a space,
 * a hyphen or an underscore dropped and each space made a hyphen; a repeated anchor gets `-1`, `-2`...
 */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const plain = heading[1]!
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replace(/[`*]/g, "")
      .replace(/(^|\s)_+|_+(\s|$)/g, "$1$2");
    const base = plain
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}
