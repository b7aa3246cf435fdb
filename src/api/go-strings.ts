/** Go's strings.TrimSpace: Multus trims with it, and its whitespace set differs from JS trim(). */
const GO_SPACE =
  '\t\n\v\f\r \u0085\u00A0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200A\u2028\u2029\u202F\u205F\u3000';

export function trimGoSpace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && GO_SPACE.includes(s[start] as string)) start++;
  while (end > start && GO_SPACE.includes(s[end - 1] as string)) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}
