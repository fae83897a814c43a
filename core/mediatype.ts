// Media types as Go's mime.ParseMediaType reads them, because Prometheus clients and the
// reference Pushgateway decide a push's format by that reading: the type and parameter names
// are case-insensitive, values are tokens or quoted strings, and anything malformed (a bad
// token, a duplicate parameter) makes the whole header unreadable.

export interface MediaType {
  /** type/subtype, lower-cased. */
  type: string;
  /** Parameters by lower-cased name; values as written (quotes and escapes removed). */
  params: Map<string, string>;
}

// RFC 2045 token characters: printable ASCII except blanks and tspecials.
const TSPECIALS = '()<>@,;:\\"/[]?=';
function isTokenChar(c: string): boolean {
  const code = c.charCodeAt(0);
  return code > 0x20 && code < 0x7f && !TSPECIALS.includes(c);
}

function tokenEnd(s: string, from: number): number {
  let i = from;
  while (i < s.length && isTokenChar(s[i])) i++;
  return i;
}

function skipBlanks(s: string, from: number): number {
  let i = from;
  while (i < s.length && /\s/.test(s[i])) i++;
  return i;
}

/** A quoted string starting at s[from] === '"': its value and the index after it, or undefined. */
function quoted(s: string, from: number): [string, number] | undefined {
  let out = "";
  for (let i = from + 1; i < s.length; i++) {
    const c = s[i];
    if (c === '"') return [out, i + 1];
    // Go unescapes only tspecials; any other backslash is kept as written.
    if (c === "\\" && i + 1 < s.length && TSPECIALS.includes(s[i + 1])) out += s[++i];
    else if (c === "\r" || c === "\n") return undefined;
    else out += c;
  }
  return undefined;
}

/** Parses a Content-Type or Accept element; undefined when Go would report an error. */
export function parseMediaType(header: string): MediaType | undefined {
  const semi = header.indexOf(";");
  const type = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
  const slash = type.indexOf("/");
  const major = slash < 0 ? type : type.slice(0, slash);
  if (major === "" || tokenEnd(major, 0) !== major.length) return undefined;
  if (slash >= 0) {
    const minor = type.slice(slash + 1);
    if (minor === "" || tokenEnd(minor, 0) !== minor.length) return undefined;
  }
  const params = new Map<string, string>();
  let i = semi < 0 ? header.length : semi;
  for (;;) {
    i = skipBlanks(header, i);
    if (i >= header.length) break;
    if (header[i] !== ";") return undefined;
    i = skipBlanks(header, i + 1);
    if (i >= header.length) break; // a trailing ";" is allowed
    const nameEnd = tokenEnd(header, i);
    if (nameEnd === i) return undefined;
    const name = header.slice(i, nameEnd).toLowerCase();
    i = skipBlanks(header, nameEnd);
    if (header[i] !== "=") return undefined;
    i = skipBlanks(header, i + 1);
    let value: string;
    if (header[i] === '"') {
      const q = quoted(header, i);
      if (!q) return undefined;
      [value, i] = q;
    } else {
      const end = tokenEnd(header, i);
      if (end === i) return undefined;
      value = header.slice(i, end);
      i = end;
    }
    if (params.has(name)) return undefined;
    params.set(name, value);
  }
  return { type, params };
}
