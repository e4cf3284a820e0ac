import { MATCH_END, MATCH_START } from './port.ts';

/**
 * BM25 and excerpts for the embedded store's full-text search, computed over the bounded candidate set in JS rather
 * than by FTS5's bm25() and snippet(): bm25() counts every match of each phrase in the whole index on its first call
 * (for the inverse document frequency) and snippet() re-runs the MATCH, and for a prefix each of those merges every
 * matching term's doclist again. Here the words' frequencies come from bounded scans and the candidates' own texts.
 */

/** FTS5's bm25() constants. */
const K1 = 1.2;
const B = 0.75;
/** Tokens in an excerpt, as snippet(..., 16) cut them. */
const EXCERPT_TOKENS = 16;

/** Tokens as FTS5's unicode61 tokenizer splits them (letters, digits, marks, private use). */
const TOKEN = /[\p{L}\p{N}\p{M}\p{Co}]+/gu;
const NON_ASCII = /[^ -~\t\n\r]/;
const MARKS = /\p{M}/gu;

/** Case and accents folded, as `remove_diacritics 2` does. */
export function foldWord(word: string): string {
  const lower = word.toLowerCase();
  return NON_ASCII.test(lower) ? lower.normalize('NFD').replace(MARKS, '') : lower;
}

export interface RankedText {
  score: number;
  /** Per term, how often it occurs (the last one as a prefix). */
  frequencies: number[];
  length: number;
}

interface Token {
  start: number;
  end: number;
  /** Index of the query term it matches, or -1. */
  term: number;
}

function tokenize(text: string, terms: readonly string[]): Token[] {
  const last = terms.length - 1;
  const termOf = (word: string) => {
    const term = terms.indexOf(word);
    return term === -1 && last >= 0 && word.startsWith(terms[last]!) ? last : term;
  };
  const tokens: Token[] = [];
  if (NON_ASCII.test(text)) {
    for (const match of text.matchAll(TOKEN))
      tokens.push({ start: match.index, end: match.index + match[0].length, term: termOf(foldWord(match[0])) });
    return tokens;
  }
  // ASCII (most texts): letters and digits by char code, an order of magnitude faster than the Unicode regex.
  const lower = text.toLowerCase();
  let start = -1;
  for (let index = 0; index <= lower.length; index++) {
    const code = index < lower.length ? lower.charCodeAt(index) : 0;
    const word = (code >= 97 && code <= 122) || (code >= 48 && code <= 57);
    if (word && start < 0) start = index;
    else if (!word && start >= 0) {
      tokens.push({ start, end: index, term: termOf(lower.slice(start, index)) });
      start = -1;
    }
  }
  return tokens;
}

/** The inverse document frequency of a term matched by `matching` of `documents` (FTS5's, never below 1e-6). */
export function inverseDocumentFrequency(matching: number, documents: number): number {
  const idf = Math.log((documents - matching + 0.5) / (matching + 0.5));
  return idf > 0 ? idf : 1e-6;
}

/** Okapi BM25 of one text (higher is better), as FTS5's bm25() computes it with one column. */
export function bm25(text: string, terms: readonly string[], idf: readonly number[], averageLength: number): number {
  const frequencies = terms.map(() => 0);
  let length = 0;
  if (NON_ASCII.test(text)) {
    for (const token of tokenize(text, terms)) {
      length++;
      if (token.term >= 0) frequencies[token.term]!++;
    }
  } else {
    // The ASCII tokenizer again, counting only: no token objects for a thousand candidates.
    const lower = text.toLowerCase();
    const shortest = Math.min(...terms.map((term) => term.length));
    const last = terms.length - 1;
    let start = -1;
    for (let index = 0; index <= lower.length; index++) {
      const code = index < lower.length ? lower.charCodeAt(index) : 0;
      const word = (code >= 97 && code <= 122) || (code >= 48 && code <= 57);
      if (word) {
        if (start < 0) start = index;
        continue;
      }
      if (start < 0) continue;
      length++;
      if (index - start >= shortest) {
        const token = lower.slice(start, index);
        const term = terms.indexOf(token);
        if (term >= 0) frequencies[term]!++;
        else if (token.startsWith(terms[last]!)) frequencies[last]!++;
      }
      start = -1;
    }
  }
  const norm = K1 * (1 - B + (B * length) / (averageLength > 0 ? averageLength : 1));
  let score = 0;
  for (const [index, frequency] of frequencies.entries()) score += (idf[index] ?? 1) * ((frequency * (K1 + 1)) / (frequency + norm));
  return score;
}

/**
 * An excerpt of about EXCERPT_TOKENS tokens around the densest run of matched words, each matched word between MATCH_START
 * and MATCH_END, '…' where the text goes on.
 */
export function excerpt(text: string, terms: readonly string[]): string {
  const tokens = tokenize(text, terms);
  let from = 0;
  if (tokens.length > EXCERPT_TOKENS) {
    // The window with the most distinct terms, then the most matches; its matches centred in it.
    let best = { distinct: -1, matches: -1, first: 0, last: 0 };
    for (const [start, token] of tokens.entries()) {
      if (token.term < 0) continue;
      const seen = new Set<number>();
      let matches = 0;
      let last = start;
      for (let index = start; index < Math.min(tokens.length, start + EXCERPT_TOKENS); index++) {
        if (tokens[index]!.term < 0) continue;
        seen.add(tokens[index]!.term);
        matches++;
        last = index;
      }
      if (seen.size > best.distinct || (seen.size === best.distinct && matches > best.matches))
        best = { distinct: seen.size, matches, first: start, last };
    }
    const slack = EXCERPT_TOKENS - (best.last - best.first + 1);
    from = Math.max(0, Math.min(tokens.length - EXCERPT_TOKENS, best.first - Math.floor(slack / 2)));
  }
  const to = Math.min(tokens.length, from + EXCERPT_TOKENS);
  const atStart = from === 0;
  const atEnd = to === tokens.length;
  let out = atStart ? '' : '…';
  let cursor = atStart ? 0 : (tokens[from]?.start ?? 0);
  for (let index = from; index < to; index++) {
    const token = tokens[index]!;
    if (token.term < 0) continue;
    out += `${text.slice(cursor, token.start)}${MATCH_START}${text.slice(token.start, token.end)}${MATCH_END}`;
    cursor = token.end;
  }
  out += atEnd ? text.slice(cursor) : `${text.slice(cursor, tokens[to - 1]!.end)}…`;
  return out;
}

/**
 * FTS5's averages record (rowid 1 of the `_data` shadow table): the number of rows, then the tokens in each column, as
 * SQLite varints. What bm25() reads for N and the average length.
 */
export function decodeAverages(block: Uint8Array): { rows: number; tokens: number } | null {
  let offset = 0;
  const varint = (): number | null => {
    let value = 0;
    for (let index = 0; index < 9; index++) {
      if (offset >= block.length) return null;
      const byte = block[offset++]!;
      if (index === 8) return value * 256 + byte;
      value = value * 128 + (byte & 0x7f);
      if ((byte & 0x80) === 0) return value;
    }
    return value;
  };
  const rows = varint();
  const tokens = varint();
  return rows === null || tokens === null ? null : { rows, tokens };
}
