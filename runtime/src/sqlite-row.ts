/**
 * Columns a table sets and clears together (a battery reading, a time answer) read back as one value: the object
 * when every column is set, null when any is NULL, so a half-written group never reaches the code as a whole.
 */
export function columnGroup<T extends Record<string, unknown>>(
  columns: T,
): { [K in keyof T]: NonNullable<T[K]> } | null {
  for (const value of Object.values(columns)) if (value === null || value === undefined) return null;
  return columns as { [K in keyof T]: NonNullable<T[K]> };
}
