import type * as GenAi from '@google/genai';
import { failureFromBody, modelFromDriver, parseJsonIn, type UpstreamFailure } from './driver.ts';
import type { AiModel, ModelOptions } from './port.ts';

/**
 * The model port on `@google/genai` (stateless `models.generateContentStream`; the history is sent each time).
 * The SDK's own retries stay off: no `httpOptions.retryOptions`, and no automatic continuation.
 */
let genai: typeof GenAi | null = null;
/** The SDK is loaded with the first prompt (about 23 MB a server whose users never ask Leta does not spend). */
const loadGenai = async () => (genai ??= await import('@google/genai'));

export function genaiModel(options: ModelOptions): AiModel {
  const baseUrl = options.baseUrl?.replace(/\/+$/, '');
  return modelFromDriver(
    {
      sdk: 'genai',
      async open(request, contents, signal) {
        const { GoogleGenAI } = await loadGenai();
        const ai = new GoogleGenAI({ vertexai: false, apiKey: request.apiKey, ...(baseUrl ? { httpOptions: { baseUrl } } : {}) });
        return ai.models.generateContentStream({
          model: request.model,
          contents,
          config: {
            ...(request.systemInstruction ? { systemInstruction: request.systemInstruction } : {}),
            maxOutputTokens: request.maxOutputTokens,
            ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
            abortSignal: signal,
            automaticContinuation: false,
          },
        });
      },
      failure(error): UpstreamFailure {
        // ApiError's message is the JSON error body, or "got status: …. {body}" for an error frame in the stream.
        if (genai && error instanceof genai.ApiError) return failureFromBody(parseJsonIn(error.message), error.status);
        return { kind: 'network' };
      },
    },
    options,
  );
}
