import { genaiModel } from './genai.ts';
import { legacyModel } from './legacy.ts';
import type { AiModel, ModelOptions } from './port.ts';

export * from './port.ts';
export { genaiModel } from './genai.ts';
export { legacyModel } from './legacy.ts';

/** AI_SDK picks the adapter; both behave alike behind the port. */
export function createModel(sdk: AiModel['sdk'], options: ModelOptions): AiModel {
  switch (sdk) {
    case 'genai':
      return genaiModel(options);
    case 'legacy':
      return legacyModel(options);
    default: {
      const never: never = sdk;
      throw new Error(`Unknown AI SDK ${String(never)}`);
    }
  }
}
