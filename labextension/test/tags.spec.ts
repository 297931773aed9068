/**
 * The tag grammar against the vectors shared with `kale_like/tags.py`.
 */
import * as fs from 'fs';
import * as path from 'path';

import { formatTag, parseTag, TagError } from '../src/tags';

interface IVector {
  tag: string;
  parsed: { kind: string; keyword: string; args: string[] } | null;
  error: string | null;
}

const vectors: IVector[] = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'tests', 'tag_vectors.json'), 'utf-8')
);

describe('tag vectors shared with tags.py', () => {
  it('has vectors for both valid and invalid tags', () => {
    expect(vectors.filter(v => v.error === null).length).toBeGreaterThan(10);
    expect(vectors.filter(v => v.error !== null).length).toBeGreaterThan(10);
  });

  it.each(vectors.filter(v => v.error === null).map(v => [v.tag, v] as [string, IVector]))(
    'parses %j like tags.py and formats it back',
    (text, vector) => {
      const tag = parseTag(text);
      expect(tag).toEqual(vector.parsed);
      expect(formatTag(tag)).toBe(text);
    }
  );

  it.each(vectors.filter(v => v.error !== null).map(v => [v.tag, v] as [string, IVector]))(
    'rejects %j with the same error kind as tags.py',
    (text, vector) => {
      let caught: unknown = null;
      try {
        parseTag(text);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(TagError);
      expect((caught as TagError).kind).toBe(vector.error);
      expect((caught as TagError).tag).toBe(text);
    }
  );
});
