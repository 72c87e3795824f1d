/**
 * sharp (libvips) is loaded on first use: it is a large native module, and most commands (`chat`,
 * `doctor`, `keys`) never touch a picture, so they should not pay for loading it.
 */
import type Sharp from 'sharp';

let loading: Promise<typeof Sharp> | null = null;

export function loadSharp(): Promise<typeof Sharp> {
  loading ??= import('sharp').then((module) => module.default);
  return loading;
}
