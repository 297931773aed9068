/**
 * The step settings dialog's mapping between form fields and setting tags.
 */
import { fieldsToTags, tagsToFields } from '../src/settingtags';
import { parseTag } from '../src/tags';

describe('step settings <-> tags', () => {
  const tags = [
    'image:python:3.11-slim',
    'limit:cpu:500m',
    'limit:memory:2Gi',
    'limit:nvidia.com/gpu:1',
    'cache:disabled',
    'retry:2',
    'timeout:600',
    'env:LOG_LEVEL=debug',
    'env:MODE=a=b',
    'secret:db-creds:password:DB_PASSWORD',
    'volume:data-pvc:/data',
    'label:team:ml'
  ];

  it('round-trips every tag the form knows, keeping the others', () => {
    const fields = tagsToFields(tags);
    expect(fields.image).toBe('python:3.11-slim');
    expect(fields.gpu).toBe('1');
    expect(fields.env).toBe('LOG_LEVEL=debug\nMODE=a=b');
    expect(fields.rest).toEqual(['label:team:ml']);
    expect(new Set(fieldsToTags(fields))).toEqual(new Set(tags));
  });

  it('writes tags the grammar accepts', () => {
    for (const tag of fieldsToTags(tagsToFields(tags))) {
      expect(() => parseTag(tag)).not.toThrow();
    }
  });

  it('drops empty fields and blank lines', () => {
    const fields = tagsToFields([]);
    fields.memory = ' 1Gi ';
    fields.volume = '\n  a-pvc:/mnt \n\n';
    expect(fieldsToTags(fields)).toEqual(['limit:memory:1Gi', 'volume:a-pvc:/mnt']);
  });
});
