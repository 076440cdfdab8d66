import { describe, expect, it } from '@jest/globals'
import { imageReferences } from '../../src/tags.js'

describe('imageReferences', () => {
  it('publishes every tag in every repository', () => {
    expect(imageReferences(['localhost:5000/a', 'localhost:5001/b'], ['1', '1-amd64'])).toEqual([
      'localhost:5000/a:1',
      'localhost:5000/a:1-amd64',
      'localhost:5001/b:1',
      'localhost:5001/b:1-amd64'
    ])
  })
})
