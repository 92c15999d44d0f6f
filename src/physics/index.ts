export * from './ions.js';
export * from './spectrum.js';
export { symmetricEigen, eigenProject } from './eigen.js';
export { voigt, broadenSticks } from './voigt.js';
