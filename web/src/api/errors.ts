// One error type for everything the API can refuse, with a sentence a person can act on.
// `code` is the server's stable code (docs/protocol.md §1, Errors), or one of the client's own:
// "network" (the server could not be reached) and "offline" (no connection to send on).

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 0,
    readonly retryAfterSeconds?: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "ApiError";
  }

  // Worth trying again later with the same request (and, for a send, the same client_msg_id).
  // `unauthenticated` too: a live connection whose token just expired refuses requests until
  // the client's new token arrives (a signed-out client stops retrying anyway).
  get transient(): boolean {
    return ["network", "offline", "unavailable", "rate_limited", "timeout", "internal", "unauthenticated"].includes(this.code);
  }
}

// The server's message says what was wrong; a few codes get the advice that goes with them.
export function describe(e: unknown): string {
  if (!(e instanceof ApiError)) return e instanceof Error ? e.message : String(e);
  switch (e.code) {
    case "network":
      return "Cannot reach the server. Check your connection; Parley will keep trying.";
    case "offline":
      return "Not connected. The message will be sent when the connection is back.";
    case "timeout":
      return "The server took too long to answer. Trying again.";
    case "rate_limited":
      return e.retryAfterSeconds
        ? `Too many attempts. Try again in ${formatWait(e.retryAfterSeconds)}.`
        : "Too many attempts. Wait a moment and try again.";
    case "unavailable":
      return "The server is busy or restarting. Try again in a moment.";
    case "quota_exceeded":
      return "Your storage quota is full: delete something or ask your administrator.";
    case "too_large":
      return `Too large: ${e.message}`;
    default:
      return capitalize(e.message || e.code);
  }
}

function formatWait(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function capitalize(s: string): string {
  return s.length ? s[0].toUpperCase() + s.slice(1) : s;
}

// The body of an error response or a WebSocket error reply: {"code","message",…}.
export function fromErrorBody(
  body: unknown,
  status: number,
  retryAfter?: number,
): ApiError {
  const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
  if (err && typeof err.code === "string") {
    const { code, message, ...details } = err as Record<string, unknown>;
    return new ApiError(code as string, String(message ?? code), status, retryAfter, details);
  }
  return new ApiError(status >= 500 ? "unavailable" : "bad_request", `the server answered ${status}`, status, retryAfter);
}
