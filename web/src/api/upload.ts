/** A file sent to the gateway with its upload progress (fetch cannot report it; XMLHttpRequest can),
 * with the session's token; a reply that is not OK thrown as ApiError. */
import { ApiError, toApiError } from "./errors";
import { session } from "./session";

export interface UploadProgress { sent: number; total: number }

export function uploadWithProgress<T>(path: string, form: FormData, onProgress: (p: UploadProgress) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", new URL(path, location.origin).toString());
    const token = session.token();
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress({ sent: e.loaded, total: e.total }); };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response as T);
      else reject(toApiError(xhr.status, xhr.statusText, xhr.response));
    };
    xhr.onerror = () => reject(new ApiError(0, "network", "the gateway cannot be reached; check your connection"));
    xhr.send(form);
  });
}
