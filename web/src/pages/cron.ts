/** Cron input of the schedules page (pure): common choices and a first check before the server's. */

export const CRON_PRESETS: [string, string][] = [
  ["every night at 02:00", "0 2 * * *"], ["every hour", "0 * * * *"], ["every Monday at 06:00", "0 6 * * 1"],
  ["every 15 minutes", "*/15 * * * *"], ["first of the month at 03:00", "0 3 1 * *"],
];

const FIELD = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$|^[A-Za-z]{3}(-[A-Za-z]{3})?(,[A-Za-z]{3})*$/;

/** Why the text is not a five-field cron expression, or "" (the executor checks it fully). */
export function cronProblem(text: string): string {
  const fields = text.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5) return `A cron expression has five fields (minute hour day month weekday); this has ${fields.length}.`;
  const bad = fields.find((f) => !FIELD.test(f));
  return bad ? `Not a cron field: ${bad}` : "";
}
