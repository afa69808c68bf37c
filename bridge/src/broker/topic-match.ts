/**
 * MQTT topic filter matching (MQTT 3.1.1 section 4.7): `+` matches one level (also an empty one), `#` the rest
 * including the parent level, and a filter starting with a wildcard does not match a topic starting with `$`.
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === "#") return true;
    if (i >= t.length) return false;
    if (level !== "+" && level !== t[i]) return false;
  }
  return f.length === t.length;
}
