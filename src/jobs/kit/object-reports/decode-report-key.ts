/**
 * Decodes a key as S3 Inventory CSV files and Batch Operations manifests write it: URL-encoded
 * the way HTML forms are (`application/x-www-form-urlencoded`), so a space is `+`, a literal
 * `+` is `%2B`, and every other byte outside the unreserved set is `%XX` of its UTF-8 encoding.
 * Returns `undefined` when the text is not a valid encoding (a `%` not followed by two hex
 * digits, or bytes that are not UTF-8), so the caller can name the line.
 */
export function decodeReportKey(encoded: string): string | undefined {
  const plus = encoded.includes('+') ? encoded.replaceAll('+', ' ') : encoded;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    return undefined;
  }
}
