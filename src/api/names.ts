/** Kubernetes object names and Linux interface names, with messages that say what is expected. */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Returns why `s` is not a DNS-1123 label (namespaces), or undefined when it is one. */
export function checkDns1123Label(s: string, maxLength = 63): string | undefined {
  if (s.length > maxLength) return `must be at most ${maxLength} characters (has ${s.length})`;
  if (!DNS1123_LABEL.test(s)) return explainDnsMismatch(s, false);
  return undefined;
}

/** Returns why `s` is not a DNS-1123 subdomain (names of custom resources), or undefined. */
export function checkDns1123Subdomain(s: string): string | undefined {
  if (s.length > 253) return `must be at most 253 characters (has ${s.length})`;
  if (!DNS1123_SUBDOMAIN.test(s)) return explainDnsMismatch(s, true);
  return undefined;
}

function explainDnsMismatch(s: string, dotsAllowed: boolean): string {
  const shape = dotsAllowed
    ? "lower case letters, digits, '-' and '.', starting and ending with a letter or digit"
    : "lower case letters, digits and '-', starting and ending with a letter or digit";
  if (s === '') return 'must not be empty';
  if (/[A-Z]/.test(s)) return `must be lower case (${shape})`;
  if (!dotsAllowed && s.includes('.')) return `must not contain '.' (${shape})`;
  if (/\s/.test(s)) return `must not contain whitespace (${shape})`;
  return `must consist of ${shape}`;
}

/** Linux IFNAMSIZ is 16 including the terminating NUL. */
export const MAX_INTERFACE_NAME_BYTES = 15;

/**
 * Returns why the kernel would refuse `s` as an interface name (dev_valid_name:
 * non-empty, shorter than IFNAMSIZ, not `.`/`..`, no `/`, `:` or whitespace).
 */
export function checkInterfaceName(s: string): string | undefined {
  if (s === '') return 'must not be empty';
  const bytes = Buffer.byteLength(s, 'utf8');
  if (bytes > MAX_INTERFACE_NAME_BYTES) {
    return `is ${bytes} bytes long, the kernel allows at most ${MAX_INTERFACE_NAME_BYTES}`;
  }
  if (s === '.' || s === '..') return "must not be '.' or '..'";
  if (s.includes('/')) return "must not contain '/'";
  if (s.includes(':')) return "must not contain ':' (the kernel reserves it for aliases)";
  if (/[ \t\n\v\f\r]/.test(s)) return 'must not contain whitespace';
  // The kernel accepts other bytes, but a NUL would truncate the name in every C API.
  if (s.includes('\0')) return 'must not contain NUL';
  return undefined;
}
