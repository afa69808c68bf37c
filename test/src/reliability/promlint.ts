/**
 * The rules of `promtool check metrics` (client_golang's promlint), applied to a Prometheus text exposition, so a test
 * can hold /metrics to them without promtool on the machine. Answers one line per problem, empty when clean.
 */
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** Units promlint wants in base form (seconds, bytes, meters…), as suffix words. */
const NON_BASE_UNITS = [
  "nanoseconds",
  "microseconds",
  "milliseconds",
  "minutes",
  "hours",
  "days",
  "kilobytes",
  "megabytes",
  "gigabytes",
  "kibibytes",
  "mebibytes",
  "gibibytes",
  "bits",
  "percent",
  "celsius",
  "fahrenheit",
];
const RESERVED = ["_count", "_sum", "_bucket"];

export function lintExposition(text: string): string[] {
  const problems: string[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    if (help && help[2]!.trim() !== "") helps.add(help[1]!);
  }
  for (const [name, type] of types) {
    if (!NAME.test(name)) problems.push(`${name}: invalid metric name`);
    if (!helps.has(name)) problems.push(`${name}: no help text`);
    if (/[a-z][A-Z]/.test(name))
      problems.push(`${name}: metric names should be written in 'snake_case' not 'camelCase'`);
    if (type === "counter" && !name.endsWith("_total"))
      problems.push(`${name}: counter metrics should have "_total" suffix`);
    if (type !== "counter" && name.endsWith("_total"))
      problems.push(`${name}: non-counter metrics should not have "_total" suffix`);
    const words = name.split("_");
    for (const unit of NON_BASE_UNITS)
      if (words.includes(unit)) problems.push(`${name}: use base unit instead of "${unit}"`);
    if (type !== "histogram" && type !== "summary")
      for (const suffix of RESERVED)
        if (name.endsWith(suffix)) problems.push(`${name}: "${suffix}" is reserved for histograms and summaries`);
  }
  // Every sample belongs to a declared family (a histogram's or summary's samples carry the reserved suffixes).
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sample = /^([^\s{]+)/.exec(line)?.[1] ?? "";
    if (!NAME.test(sample)) problems.push(`${sample}: invalid sample name`);
    const family = types.has(sample) ? sample : sample.replace(/_(count|sum|bucket)$/, "");
    const type = types.get(family);
    if (type === undefined) problems.push(`${sample}: sample without TYPE`);
    else if (family !== sample && type !== "histogram" && type !== "summary")
      problems.push(`${sample}: "${sample.slice(family.length)}" sample of a ${type}`);
  }
  return problems;
}
