/**
 * Code units SQS refuses in a message body, read one UTF-16 unit at a time. SQS takes #x9 | #xA |
 * #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF. JSON.stringify already escapes control
 * characters and lone surrogates, but writes U+FFFE and U+FFFF as they are, valid UTF-8 and valid
 * JSON that SQS refuses (InvalidMessageContents). Characters above U+FFFF are escaped too, as their
 * surrogate pair: SQS takes them, but its local stand-in (fauxqs) checks code units and refuses them.
 */
const OUTSIDE_SQS_SET = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD]/g;

/**
 * JSON that SQS takes as a message body and that parses to exactly `value`. Such characters only
 * ever occur inside JSON strings, where `\uXXXX` stands for the same character.
 */
export function toSqsJson(value: unknown): string {
  return JSON.stringify(value).replace(
    OUTSIDE_SQS_SET,
    (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
