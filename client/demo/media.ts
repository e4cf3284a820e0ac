import type { LetsAppClient } from '../index.ts';

/**
 * Pictures as object URLs: an <img> cannot send the bearer token, so the bytes are fetched with it (through the
 * typed client) and shown from memory. Kept per file and size for the page's life.
 */
export class MediaCache {
  private readonly urls = new Map<string, Promise<string>>();

  constructor(private readonly client: LetsAppClient) {}

  url(mediaId: string, size?: '48' | '128' | '512'): Promise<string> {
    const key = `${mediaId}:${size ?? ''}`;
    let url = this.urls.get(key);
    if (!url) {
      url = this.client.api
        .request('get', '/api/media/{id}', { params: { id: mediaId }, ...(size ? { query: { size } } : {}) })
        .then((blob) => URL.createObjectURL(blob as Blob));
      url.catch(() => this.urls.delete(key));
      this.urls.set(key, url);
    }
    return url;
  }

  /** Fills an <img> once the picture is here. */
  show(img: HTMLImageElement, mediaId: string | null, size?: '48' | '128' | '512'): void {
    img.hidden = mediaId === null;
    if (mediaId === null) return;
    this.url(mediaId, size).then(
      (url) => {
        img.src = url;
      },
      () => {
        img.hidden = true;
      },
    );
  }
}
