/** Pure helpers of the notifications and profile pages. */

/** "RunCompleted, RunCancelled ,," → ["RunCompleted", "RunCancelled"] (de-duplicated, order kept). */
export function eventTypesOf(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean))];
}

/** Why a new password cannot be sent yet (the gateway's rules: 8 to 128 characters), or "". */
export function passwordProblem(current: string, next: string, again: string): string {
  if (!current) return "Give your current password.";
  if (next.length < 8) return "The new password needs at least 8 characters.";
  if (next.length > 128) return "The new password can have at most 128 characters.";
  if (next !== again) return "The two new passwords differ.";
  if (next === current) return "The new password is the same as the current one.";
  return "";
}
