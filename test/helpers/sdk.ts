/** Reading what the OpenAI SDK gives a caller, the way a user's code would. */
import type OpenAI from 'openai';

/** What a streamed chat completion amounted to. */
export interface ChatStreamResult {
  text: string;
  finish: string | null;
  usage: OpenAI.CompletionUsage | undefined;
}

/** Consume an SDK chat stream: the joined content, the last finish reason and the usage chunk's usage. */
export async function readChatStream(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<ChatStreamResult> {
  let text = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  return { text, finish, usage };
}
