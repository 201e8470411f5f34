/** Serves the repository on 127.0.0.1 (port 0: any free one); see vad-serve.js. */
export function serve(port?: number): Promise<{ url: string; close(): Promise<void> }>;
