/** Jest: unit tests of the labextension (tag grammar, request error handling). */
const esModules = [
  '@jupyterlab/',
  '@jupyter/',
  '@lumino/',
  '@codemirror/',
  'lib0',
  'y-protocols',
  'yjs',
  'nanoid',
  'exenv-es6'
].join('|');

module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/labextension/test'],
  testRegex: '.*\\.spec\\.ts$',
  transform: {
    '^.+\\.[tj]sx?$': [
      'ts-jest',
      { tsconfig: '<rootDir>/labextension/test/tsconfig.json', diagnostics: { warnOnly: false } }
    ]
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esModules}))`],
  moduleNameMapper: { '\\.(css|less|svg)$': '<rootDir>/labextension/test/style-mock.js' }
};
