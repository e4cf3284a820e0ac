import { GoogleGenerativeAI, GoogleGenerativeAIFetchError } from '@google/generative-ai';
import { modelFromDriver, type UpstreamFailure } from './driver.ts';
import type { AiModel, ModelOptions } from './port.ts';

/**
 * The model port on the archived `@google/generative-ai` (support ended 2025-11-30), kept selectable while the
 * genai adapter proves itself. Stateless `generateContentStream`; this SDK has no retries of its own.
 */
export function legacyModel(options: ModelOptions): AiModel {
  const baseUrl = options.baseUrl?.replace(/\/+$/, '');
  return modelFromDriver(
    {
      sdk: 'legacy',
      async open(request, contents, signal) {
        const model = new GoogleGenerativeAI(request.apiKey).getGenerativeModel(
          { model: request.model },
          baseUrl ? { baseUrl } : undefined,
        );
        const result = await model.generateContentStream(
          {
            contents,
            ...(request.systemInstruction ? { systemInstruction: request.systemInstruction } : {}),
            generationConfig: {
              maxOutputTokens: request.maxOutputTokens,
              ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
            },
          },
          { signal },
        );
        // The SDK also aggregates the stream into `response`; unread, its failure must not go unhandled.
        result.response.catch(() => {});
        return result.stream;
      },
      failure(error): UpstreamFailure {
        if (error instanceof GoogleGenerativeAIFetchError && typeof error.status === 'number') {
          return { kind: 'http', status: error.status, message: error.message, details: error.errorDetails ?? [] };
        }
        return { kind: 'network' };
      },
    },
    options,
  );
}
