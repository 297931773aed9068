/**
 * The step settings dialog's mapping between form fields and setting tags.
 */
import { fieldErrors, fieldsToTags, fieldTags, tagsToFields } from '../src/settingtags';
import { parseTag, tryParseTag } from '../src/tags';

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
    'configmap:app-config:log.level:LOG_LEVEL',
    'volume:data-pvc:/data',
    'security-context:run_as_user=1000:run_as_group=100:run_as_non_root=true',
    'label:team:ml'
  ];

  it('round-trips every tag the form knows, keeping the others', () => {
    const fields = tagsToFields(tags);
    expect(fields.image).toBe('python:3.11-slim');
    expect(fields.gpu).toBe('1');
    expect(fields.env).toBe('LOG_LEVEL=debug\nMODE=a=b');
    expect(fields.configmap).toBe('app-config:log.level:LOG_LEVEL');
    expect([fields.runAsUser, fields.runAsGroup, fields.runAsNonRoot]).toEqual(['1000', '100', 'true']);
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

  it('gathers security-context fields from several tags into one tag', () => {
    const fields = tagsToFields([
      'security-context:run_as_non_root=false',
      'security-context:run_as_user=0'
    ]);
    expect([fields.runAsUser, fields.runAsGroup, fields.runAsNonRoot]).toEqual(['0', '', 'false']);
    expect(fields.rest).toEqual([]);
    expect(fieldsToTags(fields)).toEqual(['security-context:run_as_user=0:run_as_non_root=false']);
  });

  it('writes config maps one per line and leaves a bad security field to the grammar', () => {
    const fields = tagsToFields([]);
    fields.configmap = 'a-config:key:A\n\n b-config:k.2:B ';
    fields.runAsGroup = 'abc';
    const out = fieldsToTags(fields);
    expect(out).toEqual([
      'configmap:a-config:key:A',
      'configmap:b-config:k.2:B',
      'security-context:run_as_group=abc'
    ]);
    expect(() => parseTag(out[2])).toThrow(/run_as_group must be a whole number/);
  });
});

describe('settings dialog validation (same grammar as the CLI)', () => {
  it('puts invalid tags in their field, where clearing removes them', () => {
    const fields = tagsToFields(['retry:two', 'limit:memory:lots', 'limit:cpu:500m', 'label:team:ml']);
    expect([fields.retry, fields.memory, fields.cpu]).toEqual(['two', 'lots', '500m']);
    expect(fields.rest).toEqual(['label:team:ml']);
    const errors = fieldErrors(fields);
    expect(Array.from(errors.keys()).sort()).toEqual(['memory', 'retry']);
    fields.retry = '';
    fields.memory = '1Gi';
    expect(fieldErrors(fields).size).toBe(0);
    expect(fieldsToTags(fields)).toEqual(['limit:cpu:500m', 'limit:memory:1Gi', 'label:team:ml']);
  });

  it('checks each field as typed: the tags it writes parse, or the field has an error', () => {
    const fields = tagsToFields([]);
    for (const [key, bad, good] of [
      ['retry', 'lots', '3'], ['timeout', 'soon', '600'], ['memory', '2 GB', '2Gi'],
      ['env', '1BAD=x', 'GOOD=x'], ['runAsUser', 'root', '1000'], ['image', 'bad image', 'python:3.11']
    ] as Array<[keyof typeof fields, string, string]>) {
      (fields as any)[key] = bad;
      expect(fieldErrors(fields).has(key)).toBe(true);
      expect(fieldTags(fields, key).every(t => tryParseTag(t) instanceof Error)).toBe(true);
      (fields as any)[key] = good;
      expect(fieldErrors(fields).has(key)).toBe(false);
    }
  });
});
