/**
 * App switch URLs (docs/design.md section 4), shaped like Unloc's so integrators' apps carry over:
 * `use-key` opens one key, `prefetchkeys` has the app download all of its user's keys ahead of time.
 */
export const DEFAULT_APP_LINK_BASE = "https://app.latchkey.dev";

export interface UseKeyLink {
  keyId: string;
  /** The key holder's phone number in E.164. */
  userId: string;
  redirect?: string;
  redirectOnError?: string;
}

function base(linkBase: string): URL {
  const url = new URL(linkBase);
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

export function useKeyUrl(link: UseKeyLink, linkBase: string = DEFAULT_APP_LINK_BASE): string {
  const url = new URL("use-key", base(linkBase));
  url.searchParams.set("id", link.keyId);
  url.searchParams.set("userid", link.userId);
  if (link.redirect) url.searchParams.set("redirect", link.redirect);
  if (link.redirectOnError) url.searchParams.set("redirectOnError", link.redirectOnError);
  return url.toString();
}

export function prefetchKeysUrl(
  options: { returnUrl?: string } = {},
  linkBase: string = DEFAULT_APP_LINK_BASE,
): string {
  const url = new URL("prefetchkeys", base(linkBase));
  if (options.returnUrl) url.searchParams.set("returnUrl", options.returnUrl);
  return url.toString();
}
