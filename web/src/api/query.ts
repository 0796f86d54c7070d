import { QueryClient } from "@tanstack/react-query";
import { ApiError } from "./errors";

/** Server state cache: client errors (4xx) are not retried, they will not change. */
export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      retry: (count, error) => !(error instanceof ApiError && error.status > 0 && error.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
});
