// Unit tests load application modules that import @willsoto/nestjs-prometheus: give Jest its ESM copy.
import { writeEsmCopies } from './esm-copy.mjs';

export default function unitSetup() {
  writeEsmCopies();
}
